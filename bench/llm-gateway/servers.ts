/** The inference servers the benchmark puts the gateway in front of, each started on the same GGUF and threads. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "../../test/regtest/paths.js";
import type { InferenceServer } from "../../test/support/inference-server.js";
import { startLlamaServer } from "../../test/support/llama-server.js";
import { startOllama } from "../../test/support/ollama.js";
import { supervise } from "../../test/support/supervised.js";

/** The kinds this benchmark can start here, by their `upstreamKind` names. */
export const BENCH_KINDS = ["l402-llm-backend", "llama.cpp", "ollama"] as const;
export type BenchKind = (typeof BENCH_KINDS)[number];

export interface ServerOptions {
  readonly model: string;
  readonly threads: number;
  /** Context for the one sequence each server decodes. */
  readonly contextSize: number;
}

/** Our llm-backend as deployed: its CLI in a process of its own, one sequence, on the CPU. */
async function startBackend(options: ServerOptions): Promise<InferenceServer> {
  const args = [
    join(REPO_ROOT, "llm-backend", "dist", "cli.js"),
    ...["--model", options.model, "--port", "0", "--parallel", "1", "--gpu", "false"],
    ...["--threads", String(options.threads), "--context-size", String(options.contextSize)],
  ];
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, L402_LLM_LOG_LEVEL: "info" },
  });
  const proc = supervise(child);
  const stop = () => proc.kill("SIGTERM");
  try {
    const baseUrl = (await proc.match(/"url":"(http:\/\/[^"]+)".*"msg":"ready"/, 120_000))[1] ?? "";
    const models = (await (await fetch(`${baseUrl}/v1/models`)).json()) as { data: { id: string }[] };
    const model = models.data[0]?.id;
    if (!model) throw new Error(`llm-backend listed no model: ${JSON.stringify(models)}`);
    return { baseUrl, model, pid: proc.pid, logs: proc.output, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export function startKind(kind: BenchKind, options: ServerOptions): Promise<InferenceServer> {
  switch (kind) {
    case "l402-llm-backend":
      return startBackend(options);
    case "llama.cpp":
      return startLlamaServer({
        model: options.model,
        parallel: 1,
        threads: options.threads,
        contextSize: options.contextSize,
        args: ["--n-gpu-layers", "0"],
      });
    case "ollama":
      return startOllama({
        model: options.model,
        parallel: 1,
        contextSize: options.contextSize,
        modelfile: [`PARAMETER num_thread ${options.threads}`],
      });
  }
}
