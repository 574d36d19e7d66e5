import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { gatewayLndConfig, type RegtestNodeInfo } from "../regtest/network-file.js";
import { REPO_ROOT } from "../regtest/paths.js";
import { waitFor } from "../regtest/wait.js";

/** How much of a process's output is kept: enough for start-up and fault logs, bounded for a long soak. */
const OUTPUT_KEPT_CHARS = 1 << 20;

export interface Supervised {
  readonly pid: number;
  /** What the process wrote so far, stdout and stderr: the last `OUTPUT_KEPT_CHARS` of it. */
  output(): string;
  /** Waits until the output matches `pattern` (failing early if the process exits), and returns the match. */
  match(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Signals the process (SIGKILL by default) unless it already exited, and waits for its exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Keeps a child process's output and lets a test or benchmark wait for lines in it and kill it. */
export function supervise(child: ChildProcess): Supervised {
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > OUTPUT_KEPT_CHARS) output = output.slice(-OUTPUT_KEPT_CHARS);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  // "close" comes once the output pipes are drained too: from then on the output is final.
  let outputFinal = false;
  child.once("close", () => {
    outputFinal = true;
  });
  return {
    pid: child.pid ?? 0,
    output: () => output,
    match: (pattern, timeoutMs = 60_000) =>
      waitFor(`output matching ${pattern}`, async () => pattern.exec(output) ?? undefined, {
        timeoutMs,
        intervalMs: 100,
        // A process may print the line and exit before the first poll: only a final output without it is a failure.
        abortIf: () =>
          outputFinal && !pattern.test(output)
            ? new Error(`the process exited without printing ${pattern}:\n${output}`)
            : undefined,
      }),
    async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
      if (running()) child.kill(signal);
      await exited;
    },
  };
}

/**
 * Runs the built `l402-gateway --config <file>` and waits until it listens (its config must log at info); `nodeArgs`
 * go to node first (`--cpu-prof`).
 */
export async function startGatewayProcess(
  configFile: string,
  nodeArgs: readonly string[] = [],
): Promise<Supervised & { readonly url: string }> {
  const cli = join(REPO_ROOT, "gateway", "dist", "cli.js");
  const child = spawn(process.execPath, [...nodeArgs, cli, "--config", configFile], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const proc = supervise(child);
  const url = (await proc.match(/"url":"(http:\/\/[^"]+)","operatorUrl"/))[1] ?? "";
  return { ...proc, url };
}

/**
 * Writes `<dir>/gateway.yaml` for a gateway on `lnd` (the operator's node) with ports picked by the OS and logging at
 * info (its listening URL is read from the log; the supervisor keeps only the last MiB), plus `settings` (store,
 * limits, services), and runs it with startGatewayProcess.
 */
export async function startConfiguredGateway(
  dir: string,
  lnd: RegtestNodeInfo,
  settings: Record<string, unknown>,
  nodeArgs: readonly string[] = [],
): Promise<Supervised & { readonly url: string; readonly configFile: string }> {
  const configFile = join(dir, "gateway.yaml");
  const config = {
    listen: { port: 0 },
    operator: { port: 0 },
    lnd: gatewayLndConfig(lnd),
    log: { level: "info" },
    ...settings,
  };
  writeFileSync(configFile, stringify(config));
  return { ...(await startGatewayProcess(configFile, nodeArgs)), configFile };
}
