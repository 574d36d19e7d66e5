import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { z } from "zod";
import { defaultModelPath } from "./inference/default-model.js";

export const GPU_CHOICES = ["auto", "cuda", "vulkan", "false"] as const;
export type GpuChoice = (typeof GPU_CHOICES)[number];

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "silent"] as const;

const positiveInt = z.coerce.number().int().positive();

export const configSchema = z.object({
  /** A GGUF path, or an `hf:` URI that node-llama-cpp resolves (and downloads) for users who are online. */
  model: z.string().min(1),
  /** The id clients must send as `model`; defaults to the file name without `.gguf`. */
  modelAlias: z.string().min(1).optional(),
  gpu: z.enum(GPU_CHOICES).default("auto"),
  /** Sequences decoded in parallel in the one context. */
  parallel: positiveInt.max(64).default(4),
  /** Tokens per sequence: prompt plus completion of one request must fit. */
  contextSize: positiveInt.max(1 << 20).default(4096),
  /** node-llama-cpp's own default (at least 4) oversubscribes small machines, so default to the cores we really have. */
  threads: positiveInt.max(1024).default(availableParallelism()),
  port: z.coerce.number().int().min(0).max(65535).default(8081),
  host: z.string().min(1).default("127.0.0.1"),
  /** Requests allowed to wait for a sequence; beyond that the answer is 503 with Retry-After. */
  maxQueue: z.coerce.number().int().min(0).max(10_000).default(16),
  retryAfterSeconds: positiveInt.max(3600).default(1),
  maxBodyBytes: positiveInt.default(1024 * 1024),
  logLevel: z.enum(LOG_LEVELS).default("info"),
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

export class ConfigError extends Error {}

export function parseConfig(input: Partial<ConfigInput>): Config {
  const result = configSchema.safeParse({ model: defaultModelPath(), ...input });
  if (!result.success) {
    const details = result.error.issues.map((issue) => `--${issue.path.join(".")}: ${issue.message}`).join("; ");
    throw new ConfigError(`invalid configuration: ${details}`);
  }
  return result.data;
}

export const USAGE = `Usage: l402-llm-backend [options]

  --model <path|hf:uri>     GGUF file or hf: URI (default: the cached SmolLM2-135M-Instruct Q4_1, see npm run model:fetch)
  --model-alias <id>        model id served in the API (default: file name without .gguf)
  --gpu auto|cuda|vulkan|false  GPU backend; auto falls back to CPU (default: auto)
  --parallel <n>            sequences decoded in parallel (default: 4)
  --context-size <n>        tokens per sequence (default: 4096)
  --threads <n>             CPU threads (default: available cores)
  --port <n>                listen port, 0 for any free one (default: 8081, beside the gateway on 8080)
  --host <addr>             listen address (default: 127.0.0.1)
  --max-queue <n>           waiting requests before 503 (default: 16)
  --retry-after <s>         Retry-After seconds on 503 (default: 1)
  --max-body-bytes <n>      request body limit, larger bodies get 413 (default: 1048576)
  --log-level <level>       fatal|error|warn|info|debug|silent (default: info)
  -h, --help                show this help

Environment: L402_LLM_MODEL, L402_LLM_GPU, L402_LLM_PARALLEL, L402_LLM_CONTEXT_SIZE, L402_LLM_THREADS,
L402_LLM_PORT, L402_LLM_HOST, L402_LLM_LOG_LEVEL (flags win); L402_CACHE_DIR / XDG_CACHE_HOME locate the model cache.`;

const ENV_KEYS: Partial<Record<keyof ConfigInput, string>> = {
  model: "L402_LLM_MODEL",
  gpu: "L402_LLM_GPU",
  parallel: "L402_LLM_PARALLEL",
  contextSize: "L402_LLM_CONTEXT_SIZE",
  threads: "L402_LLM_THREADS",
  port: "L402_LLM_PORT",
  host: "L402_LLM_HOST",
  logLevel: "L402_LLM_LOG_LEVEL",
};

export type CliParseResult = { kind: "help" } | { kind: "config"; config: Config };

export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CliParseResult {
  let parsed: ReturnType<typeof parseCliFlags>;
  try {
    parsed = parseCliFlags(argv);
  } catch (error) {
    throw new ConfigError(error instanceof Error ? error.message : String(error));
  }
  const { values } = parsed;
  if (values.help) return { kind: "help" };
  const input: Record<string, string> = {};
  for (const [key, envName] of Object.entries(ENV_KEYS)) {
    const value = env[envName];
    if (value) input[key] = value;
  }
  const flagToKey: Record<string, keyof ConfigInput> = {
    model: "model",
    "model-alias": "modelAlias",
    gpu: "gpu",
    parallel: "parallel",
    "context-size": "contextSize",
    threads: "threads",
    port: "port",
    host: "host",
    "max-queue": "maxQueue",
    "retry-after": "retryAfterSeconds",
    "max-body-bytes": "maxBodyBytes",
    "log-level": "logLevel",
  };
  for (const [flag, key] of Object.entries(flagToKey)) {
    const value = values[flag as keyof typeof values];
    if (typeof value === "string") input[key] = value;
  }
  return { kind: "config", config: parseConfig(input) };
}

function parseCliFlags(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      model: { type: "string" },
      "model-alias": { type: "string" },
      gpu: { type: "string" },
      parallel: { type: "string" },
      "context-size": { type: "string" },
      threads: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      "max-queue": { type: "string" },
      "retry-after": { type: "string" },
      "max-body-bytes": { type: "string" },
      "log-level": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}
