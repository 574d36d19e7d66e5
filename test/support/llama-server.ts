import { availableParallelism } from "node:os";
import { defaultModelPath } from "@l402-gateway/llm-backend";
import { allocatePorts, LOOPBACK } from "../regtest/ports.js";
import { ensureLlamaServer } from "../tools/llama-server.js";
import { type InferenceServer, spawnServer, waitUntilHealthy } from "./inference-server.js";

export interface LlamaServerOptions {
  /** Path of a GGUF file; the default model (SmolLM2-135M-Instruct Q4_1) when left out. */
  readonly model?: string;
  /** The model id the server answers to (`--alias`); llama-server's own default (the file name) when left out. */
  readonly alias?: string;
  /** Slots decoding at once (`-np`). */
  readonly parallel?: number;
  /** Total context, shared by the slots (`-c`). */
  readonly contextSize?: number;
  readonly threads?: number;
  /** Extra command-line arguments, e.g. `["--metrics"]`. */
  readonly args?: readonly string[];
}

/**
 * Starts llama.cpp's `llama-server` (built and cached on first use) on a free loopback port, serving one GGUF with
 * `/health`, `/v1/models`, `/v1/chat/completions` (with usage), `/tokenize`, `/apply-template`, `/slots` and `/metrics`.
 * Ready when `/health` answers 200 (it answers 503 while the model loads).
 */
export async function startLlamaServer(options: LlamaServerOptions = {}): Promise<InferenceServer> {
  const binary = await ensureLlamaServer();
  const [port] = (await allocatePorts(1)) as [number];
  const baseUrl = `http://${LOOPBACK}:${port}`;
  const args = [
    ...["--model", options.model ?? defaultModelPath()],
    ...["--host", LOOPBACK, "--port", String(port)],
    ...["--parallel", String(options.parallel ?? 4)],
    ...["--ctx-size", String(options.contextSize ?? 4096)],
    ...["--threads", String(options.threads ?? availableParallelism())],
    ...(options.alias ? ["--alias", options.alias] : []),
    "--no-webui",
    "--metrics",
    "--slots",
    ...(options.args ?? []),
  ];
  const server = spawnServer(binary, args, process.env);
  try {
    await waitUntilHealthy("llama-server", `${baseUrl}/health`, server, 120_000);
    const models = (await (await fetch(`${baseUrl}/v1/models`)).json()) as { data: { id: string }[] };
    const model = models.data[0]?.id;
    if (!model) throw new Error(`llama-server listed no model: ${JSON.stringify(models)}`);
    return { baseUrl, model, pid: server.proc.pid, logs: () => server.proc.output(), stop: server.stop };
  } catch (error) {
    await server.stop();
    throw error;
  }
}
