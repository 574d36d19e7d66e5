import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./regtest/paths.js";

/** Output of a child process so far (both streams, in arrival order, and stdout alone), and a way to wait for a line. */
function watch(child: ChildProcess) {
  let output = "";
  let stdout = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  return {
    text: () => output,
    stdout: () => stdout,
    waitFor: (pattern: RegExp, timeoutMs: number) =>
      expect.poll(() => pattern.test(output), { timeout: timeoutMs, interval: 250 }).toBe(true),
  };
}

function startDemo(args: string[]) {
  const child = spawn(process.execPath, ["--import", "tsx", "demo/main.ts", ...args], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  // "close", not "exit": the output's last chunks can still be in the pipes when the process has exited.
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  return { child, output: watch(child), exited };
}

/** What a newcomer reads: an answer line of its own, and no secret on stdout. */
function expectTidyOutput(output: ReturnType<typeof watch>) {
  const text = output.text();
  // The payment's progress comes before the answer line, never on it.
  expect(text).toMatch(/\[demo\] paying \d+ sats/);
  expect(text.indexOf("[demo] paying")).toBeLessThan(text.indexOf("\nA: "));
  expect(text).not.toMatch(/A: \[demo\]/);
  // The admin secret is in a file the output names, not in the output.
  const secretFile = /Bearer <the secret in (\S+)>/.exec(text)?.[1];
  expect(secretFile).toBeDefined();
  const secret = readFileSync(secretFile as string, "utf8");
  expect(secret.length).toBeGreaterThanOrEqual(32);
  expect(text).not.toContain(secret);
}

describe("npm run demo", () => {
  it("answers a paid question, stays up, and stops everything cleanly on Ctrl-C", { timeout: 480_000 }, async () => {
    const { child, output, exited } = startDemo([]);
    try {
      await output.waitFor(/The stack stays up/, 420_000);
      expect(output.text()).toMatch(/paid: {8}\d+ sats/);
      expect(output.text()).toMatch(/this call: {3}\d+ msat/);
      expectTidyOutput(output);
      const runDir = /run directory (\S+)/.exec(output.text())?.[1];
      expect(runDir).toMatch(/l402-regtest/);
      child.kill("SIGINT");
      expect(await exited).toBe(0);
      // Every process of the demo's regtest network is gone with it.
      const left = execFileSync("ps", ["-eo", "args"])
        .toString()
        .split("\n")
        .filter((line) => runDir && line.includes(runDir));
      expect(left).toEqual([]);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("pays through Nostr Wallet Connect without printing the relay's or the SDK's chatter", {
    timeout: 480_000,
  }, async () => {
    const { child, output, exited } = startDemo(["--wallet", "nwc", "--once"]);
    try {
      expect(await exited).toBe(0);
      expect(output.text()).toMatch(/paying through Nostr Wallet Connect/);
      expect(output.text()).toMatch(/paid: {8}\d+ sats/);
      expectTidyOutput(output);
      // Every line is the demo's own: progress on stderr ("[demo] …"), the question, answer and summary on stdout.
      const foreign = output
        .text()
        .split("\n")
        .filter((line) => /subscrib|relay connection|checking connection|\[nostr|NostrRelay|ClientContext/i.test(line))
        .filter((line) => !line.startsWith("[demo]"));
      expect(foreign).toEqual([]);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
