import { execFile } from "node:child_process";
import { promisify } from "node:util";

export interface LoadResult {
  readonly requests: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
}

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  readonly headers?: Record<string, string>;
  readonly method?: string;
  readonly expectStatus?: number;
}

const exec = promisify(execFile);

/** Closed-loop load from the Go load generator (bench/gateway/go/loadgen), like `wrk -c N -d S`. */
export async function load(loadgen: string, options: LoadOptions): Promise<LoadResult> {
  const args = [
    "-url",
    options.url,
    "-c",
    String(options.connections),
    "-d",
    `${options.seconds}s`,
    "-method",
    options.method ?? "POST",
    "-expect",
    String(options.expectStatus ?? 200),
  ];
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push("-H", `${name}: ${value}`);
  const { stdout } = await exec(loadgen, args, { maxBuffer: 1 << 20 });
  const result = JSON.parse(stdout) as {
    requests: number;
    rps: number;
    p50_ms: number;
    p99_ms: number;
    unexpected: number;
    first_error?: string;
  };
  if (result.unexpected > 0) {
    throw new Error(`${options.url}: ${result.unexpected} unexpected answers (first: ${result.first_error})`);
  }
  return { requests: result.requests, rps: result.rps, p50: result.p50_ms, p99: result.p99_ms };
}
