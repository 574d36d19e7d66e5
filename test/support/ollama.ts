import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultModelPath } from "@l402-gateway/llm-backend";
import { runCommand, tail } from "../regtest/command.js";
import { allocatePorts, LOOPBACK } from "../regtest/ports.js";
import { ensureOllama } from "../tools/ollama.js";
import { type InferenceServer, spawnServer, waitUntilHealthy } from "./inference-server.js";

export interface OllamaOptions {
  /** Path of a GGUF file; the default model (SmolLM2-135M-Instruct Q4_1) when left out. */
  readonly model?: string;
  /** The name it is created under (`ollama create NAME`); the server answers to `NAME:latest`. */
  readonly name?: string;
  /** Requests decoding at once (`OLLAMA_NUM_PARALLEL`). */
  readonly parallel?: number;
  /** Context per request (`OLLAMA_CONTEXT_LENGTH`). */
  readonly contextSize?: number;
  /** Extra lines for the Modelfile, e.g. `PARAMETER num_thread 2`. */
  readonly modelfile?: readonly string[];
}

/** SmolLM2's chat format (ChatML), so the prompt the model sees does not depend on Ollama's template guessing. */
const CHATML_TEMPLATE = `{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
`;

/**
 * Starts Ollama (built and cached on first use) on a free loopback port with its own model store in a temporary
 * directory (HOME too, so its key pair is not written to the user's), imports the GGUF through a Modelfile with
 * `ollama create`, and loads it. Nothing is fetched from the network. The store is deleted on stop.
 */
export async function startOllama(options: OllamaOptions = {}): Promise<InferenceServer> {
  const binary = await ensureOllama();
  const dir = await mkdtemp(join(tmpdir(), "ollama-"));
  const [port] = (await allocatePorts(1)) as [number];
  const host = `${LOOPBACK}:${port}`;
  const baseUrl = `http://${host}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: dir,
    OLLAMA_HOST: host,
    OLLAMA_MODELS: join(dir, "models"),
    OLLAMA_NUM_PARALLEL: String(options.parallel ?? 4),
    OLLAMA_CONTEXT_LENGTH: String(options.contextSize ?? 2048),
    OLLAMA_KEEP_ALIVE: "-1",
    OLLAMA_NOPRUNE: "1",
  };
  const server = spawnServer(binary, ["serve"], env, () => rm(dir, { recursive: true, force: true }));
  try {
    await waitUntilHealthy("ollama", `${baseUrl}/api/version`, server, 60_000);
    const name = options.name ?? "smollm2";
    const modelfile = join(dir, "Modelfile");
    await writeFile(
      modelfile,
      [
        `FROM ${options.model ?? defaultModelPath()}`,
        `TEMPLATE """${CHATML_TEMPLATE}"""`,
        'PARAMETER stop "<|im_end|>"',
        ...(options.modelfile ?? []),
        "",
      ].join("\n"),
    );
    const created = await runCommand(binary, ["create", name, "-f", modelfile], { env, timeoutMs: 300_000 });
    if (created.code !== 0) {
      throw new Error(`ollama create ${name} failed (${created.code}):\n${tail(created.stderr + created.stdout, 20)}`);
    }
    const model = `${name}:latest`;
    // An empty generate loads the model, so the first request a test makes does not pay for it.
    const load = await fetch(`${baseUrl}/api/generate`, {
      method: "POST",
      body: JSON.stringify({ model, keep_alive: -1 }),
    });
    if (!load.ok) throw new Error(`ollama could not load ${model}: ${load.status} ${await load.text()}`);
    await load.arrayBuffer();
    return { baseUrl, model, pid: server.proc.pid, logs: () => server.proc.output(), stop: server.stop };
  } catch (error) {
    await server.stop();
    throw error;
  }
}
