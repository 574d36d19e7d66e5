import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";

export interface LoadResult {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
}

/** Runs a TypeScript server script in its own process and waits for the first line it prints (its URL or details). */
export async function startChild(
  script: string,
  args: string[] = [],
  env: Record<string, string> = {},
  nodeArgs: readonly string[] = [],
): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", script, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...env },
  });
  const [chunk] = (await once(child.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
  return { child, line: chunk.toString().trim() };
}

/**
 * Closed-loop load: `connections` workers send requests back to back for `seconds`. `send(worker)` makes one request
 * and resolves with its status; anything but 200 stops the run.
 */
export async function closedLoop(
  connections: number,
  seconds: number,
  send: (worker: number) => Promise<number>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const worker = async (index: number) => {
    while (performance.now() < deadline) {
      const started = performance.now();
      const status = await send(index);
      if (status !== 200) throw new Error(`status ${status}`);
      latencies.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, (_, index) => worker(index)));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return { rps: latencies.length / elapsed, p50: at(0.5), p99: at(0.99) };
}
