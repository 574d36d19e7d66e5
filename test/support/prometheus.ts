import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { allocatePorts } from "../regtest/ports.js";
import { waitFor } from "../regtest/wait.js";
import { ensurePrometheus } from "../tools/prometheus.js";

const run = promisify(execFile);

export interface PrometheusServer {
  readonly url: string;
  /** The value of an instant PromQL query that returns one sample. */
  queryValue(expr: string): Promise<number | undefined>;
  stop(): Promise<void>;
}

export async function promtool(...args: string[]): Promise<string> {
  const { stdout, stderr } = await run((await ensurePrometheus()).promtool, args);
  return stdout + stderr;
}

/**
 * A real Prometheus (the system's, or the project's build: test/tools/prometheus.ts) on loopback, scraping each job's
 * target (host:port) every second. Its data is deleted when it stops.
 */
export async function startPrometheus(jobs: Record<string, string>): Promise<PrometheusServer> {
  const binaries = await ensurePrometheus();
  const dir = mkdtempSync(join(tmpdir(), "prometheus-"));
  const config = {
    global: { scrape_interval: "1s", evaluation_interval: "1s" },
    scrape_configs: Object.entries(jobs).map(([job, target]) => ({
      job_name: job,
      static_configs: [{ targets: [target] }],
    })),
  };
  writeFileSync(join(dir, "prometheus.yml"), JSON.stringify(config));
  const [port] = (await allocatePorts(1)) as [number];
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    binaries.prometheus,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: "ignore" },
  );
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolvePromise) => {
    child.once("exit", () => resolvePromise());
    child.once("error", (error) => {
      spawnError = new Error(`could not start ${binaries.prometheus}: ${error.message}`);
      resolvePromise();
    });
  });
  const stop = async () => {
    if (spawnError === undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor("prometheus", async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined), {
      timeoutMs: 30_000,
      abortIf: () =>
        spawnError ?? (child.exitCode !== null ? new Error(`prometheus exited with ${child.exitCode}`) : undefined),
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    stop,
    queryValue: async (expr) => {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
      const sample = body.data?.result?.[0];
      return sample === undefined ? undefined : Number(sample.value[1]);
    },
  };
}
