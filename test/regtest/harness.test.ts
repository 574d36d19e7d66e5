import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BinaryPaths, ensureBinaries } from "./binaries.js";
import { credentialPaths, loadCredentials, MissingCredentialError } from "./lnd.js";
import { startNetwork } from "./network.js";
import { NetworkFileError, readNetworkFile } from "./network-file.js";
import { REPO_ROOT } from "./paths.js";
import { allocatePorts, PortInUseError } from "./ports.js";
import { pidsWithCommandLine } from "./proc-scan.js";
import { ProcessExitedError } from "./processes.js";
import { RunDirectory, reapOrphanedRuns, stopRecordedRun } from "./runs.js";
import { NotReadyError, waitFor } from "./wait.js";

const scratch = mkdtempSync(join(tmpdir(), "l402-harness-"));
const quiet = () => {};

function fakeBinary(name: string, script: string): string {
  const path = join(scratch, name);
  writeFileSync(path, `#!/bin/sh\n${script}\n`);
  chmodSync(path, 0o755);
  return path;
}

function tsx(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Resolves with the run directory once the child's log shows `marker`. */
function waitForLog(child: ChildProcess, marker: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let seen = "";
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const runDir = /run directory (\S+)/.exec(seen)?.[1];
      if (runDir && seen.includes(marker)) resolvePromise(runDir);
    };
    child.stderr?.on("data", onData);
    child.stdout?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`child exited (${code}) before '${marker}':\n${seen}`)));
  });
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolvePromise) => child.once("exit", (code, signal) => resolvePromise({ code, signal })));
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  const child = tsx(args, env);
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  return exitOf(child).then(({ code }) => ({ code, output }));
}

describe("regtest harness failure modes", () => {
  let binaries: BinaryPaths;
  beforeAll(async () => {
    binaries = await ensureBinaries(quiet);
  });

  it("names a port that is already taken and leaves nothing running", async () => {
    const [btcdRpc, btcdP2p, aliceGrpc] = (await allocatePorts(3)) as [number, number, number];
    const squatter: Server = createServer();
    await new Promise<void>((done) => squatter.listen(aliceGrpc, "127.0.0.1", done));
    try {
      const failure = startNetwork({ binaries, log: quiet, ports: { btcdRpc, btcdP2p, aliceGrpc } });
      await expect(failure).rejects.toThrow(PortInUseError);
      await expect(failure).rejects.toThrow(`Port ${aliceGrpc} on 127.0.0.1, wanted for alice gRPC, is already in use`);
    } finally {
      squatter.close();
    }
    expect(pidsWithCommandLine(`--rpclisten=127.0.0.1:${btcdRpc}`)).toEqual([]);
  });

  it("shows the tail of the log of a binary that fails to start, and stops the rest", async () => {
    const [btcdRpc] = (await allocatePorts(1)) as [number];
    const lnd = fakeBinary("lnd", 'echo "simulated lnd failure: unable to open wallet db"; exit 3');
    const failure = startNetwork({ binaries: { ...binaries, lnd }, log: quiet, ports: { btcdRpc } });
    await expect(failure).rejects.toThrow(ProcessExitedError);
    await expect(failure).rejects.toThrow(
      /exited early \(code 3\)[\s\S]*simulated lnd failure: unable to open wallet db/,
    );
    expect(pidsWithCommandLine(`--rpclisten=127.0.0.1:${btcdRpc}`)).toEqual([]);
  });

  it("says so when a binary cannot be executed at all", async () => {
    const failure = startNetwork({ binaries: { ...binaries, btcd: join(scratch, "missing-btcd") }, log: quiet });
    await expect(failure).rejects.toThrow(/btcd could not be started: spawn .*missing-btcd ENOENT/);
  });

  it("gives up on a node that never gets ready within the bound, and kills it", async () => {
    const btcd = fakeBinary("btcd", "exec sleep 317");
    const failure = startNetwork({ binaries: { ...binaries, btcd }, log: quiet, readyTimeoutMs: 1_500 });
    await expect(failure).rejects.toThrow(NotReadyError);
    await expect(failure).rejects.toThrow(/btcd RPC was not ready within 2 s \(last: btcctl getblockcount failed/);
    expect(pidsWithCommandLine("sleep 317")).toEqual([]);
  });

  it("names the missing macaroon or cert file", () => {
    const lnddir = mkdtempSync(join(scratch, "lnddir-"));
    expect(() => loadCredentials(lnddir, "alice")).toThrow(MissingCredentialError);
    expect(() => loadCredentials(lnddir, "alice")).toThrow(
      `alice: TLS certificate not found at ${join(lnddir, "tls.cert")}`,
    );
    writeFileSync(credentialPaths(lnddir).cert, "cert");
    expect(() => loadCredentials(lnddir, "alice")).toThrow(
      `alice: admin macaroon not found at ${credentialPaths(lnddir).adminMacaroon}`,
    );
  });

  it("rejects a missing or malformed network file with its path", () => {
    const missing = join(scratch, "absent.json");
    expect(() => readNetworkFile(missing)).toThrow(NetworkFileError);
    expect(() => readNetworkFile(missing)).toThrow(`No regtest network file at ${missing}`);
    const bad = join(scratch, "bad.json");
    writeFileSync(bad, JSON.stringify({ version: 1, nodes: {} }));
    expect(() => readNetworkFile(bad)).toThrow(/bad\.json is not a valid network file[\s\S]*btcd/);
  });
});

describe("regtest process lifetime", () => {
  afterAll(async () => {
    await reapOrphanedRuns();
  });

  it("regtest:up leaves a working network running and regtest:down stops every process", async () => {
    const env = { L402_REGTEST_NETWORK_FILE: join(scratch, "manual-network.json") };
    const up = await run(["test/regtest/cli.ts", "up"], env);
    expect(up.code, up.output).toBe(0);
    expect(existsSync(env.L402_REGTEST_NETWORK_FILE), up.output).toBe(true);
    const info = readNetworkFile(env.L402_REGTEST_NETWORK_FILE);
    expect(pidsWithCommandLine(info.runDir).length).toBe(3);

    const again = await run(["test/regtest/cli.ts", "up"], env);
    expect(again.code).toBe(1);
    expect(again.output).toContain("A regtest network is already up");

    const down = await run(["test/regtest/cli.ts", "down"], env);
    expect(down.code, down.output).toBe(0);
    expect(down.output).toMatch(/Stopped alice, bob, btcd/);
    expect(pidsWithCommandLine(info.runDir)).toEqual([]);
  });

  it.each(["SIGINT", "SIGTERM"] as const)("an owner interrupted by %s stops its children", async (signal) => {
    const child = tsx(["test/regtest/fixtures/start-attached.ts"]);
    const runDir = await waitForLog(child, "btcd up on");
    child.kill(signal);
    const exit = await exitOf(child);
    expect(exit.code).toBe(signal === "SIGINT" ? 130 : 143);
    // A short-lived helper the owner ran (btcctl) may still be finishing its own exit: wait for the scan to come up empty.
    await waitFor("no process of the run left", async () => pidsWithCommandLine(runDir).length === 0 || undefined, {
      timeoutMs: 15_000,
      intervalMs: 100,
    }).catch(() => undefined);
    expect(pidsWithCommandLine(runDir)).toEqual([]);
  });

  it("names what it stopped in stop order, lnd nodes by name then btcd, whatever order they started in", async () => {
    const run = await RunDirectory.create(false);
    const sleepers = ["bob", "btcd", "alice"].map((label) => {
      const child = spawn("sleep", ["60"], { stdio: "ignore" });
      run.track(label, child.pid as number, "sleep", label === "btcd" ? 1 : 0);
      return child;
    });
    const exits = sleepers.map((child) => exitOf(child));
    expect(await stopRecordedRun(run.dir, 2_000)).toEqual(["alice", "bob", "btcd"]);
    expect((await Promise.all(exits)).map((exit) => exit.signal)).toEqual(["SIGTERM", "SIGTERM", "SIGTERM"]);
    expect(existsSync(run.dir)).toBe(false);
  });

  it("also stops a daemon of the run that its owner spawned but had not recorded yet when it died", async () => {
    const run = await RunDirectory.create(false);
    const recorded = spawn("sleep", ["60"], { stdio: "ignore" });
    run.track("btcd", recorded.pid as number, "sleep", 1);
    // Like a daemon, it names the run directory on its command line; unlike the others, the record lacks it.
    const unrecorded = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60_000)", `${run.dir}/alice`], {
      stdio: "ignore",
    });
    const exits = [exitOf(recorded), exitOf(unrecorded)];
    expect(await stopRecordedRun(run.dir, 2_000)).toEqual(["btcd"]);
    expect((await Promise.all(exits)).map((exit) => exit.signal)).toEqual(["SIGTERM", "SIGKILL"]);
    expect(pidsWithCommandLine(run.dir)).toEqual([]);
  });

  it("the children of an owner killed with SIGKILL are reaped by the next start", async () => {
    const child = tsx(["test/regtest/fixtures/start-attached.ts"]);
    const runDir = await waitForLog(child, "btcd up on");
    child.kill("SIGKILL");
    await exitOf(child);
    expect(pidsWithCommandLine(runDir).length).toBeGreaterThan(0);
    const reaped = await reapOrphanedRuns();
    expect(reaped).toContain("btcd");
    expect(pidsWithCommandLine(runDir)).toEqual([]);
  });
});
