import { type ChildProcess, spawn } from "node:child_process";
import { waitFor } from "../regtest/wait.js";
import { type Supervised, supervise } from "./supervised.js";

/** A real inference server started by the tests (llama.cpp's llama-server, Ollama), on a free loopback port. */
export interface InferenceServer {
  /** e.g. `http://127.0.0.1:41234`, without a trailing slash; its OpenAI-compatible API is under `/v1`. */
  readonly baseUrl: string;
  /** The model id the server answers to (what `/v1/models` lists and `model` in a request names). */
  readonly model: string;
  readonly pid: number;
  /** What the server wrote so far (stdout and stderr). */
  logs(): string;
  /** Stops the server (SIGTERM, then SIGKILL after 10 s) and removes what it wrote. Safe to call twice. */
  stop(): Promise<void>;
}

export interface SpawnedServer {
  readonly proc: Supervised;
  readonly child: ChildProcess;
  /** Stops the process; `cleanup` runs afterwards. */
  stop(): Promise<void>;
}

/** Spawns a server whose output is kept, with a stop that escalates to SIGKILL and then runs `cleanup`. */
export function spawnServer(
  program: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cleanup: () => Promise<void> = async () => {},
): SpawnedServer {
  const child = spawn(program, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let spawnError: Error | undefined;
  child.once("error", (error) => {
    spawnError = error;
  });
  const proc = supervise(child);
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (spawnError === undefined) {
        const escalate = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await proc.kill("SIGTERM");
        clearTimeout(escalate);
      }
      await cleanup();
    })();
    return stopping;
  };
  return { proc, child, stop };
}

/** Polls `url` until it answers 200 (no sleeps beyond the poll interval); fails at once if the process exits. */
export async function waitUntilHealthy(
  what: string,
  url: string,
  server: SpawnedServer,
  timeoutMs: number,
): Promise<void> {
  await waitFor(
    `${what} at ${url}`,
    async () => {
      const response = await fetch(url);
      await response.arrayBuffer();
      return response.ok ? true : undefined;
    },
    {
      timeoutMs,
      intervalMs: 100,
      abortIf: () =>
        server.child.exitCode !== null || server.child.signalCode !== null
          ? new Error(
              `${what} exited (${server.child.exitCode ?? server.child.signalCode}):\n${server.proc.output().slice(-4000)}`,
            )
          : undefined,
    },
  );
}
