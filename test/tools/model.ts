import { existsSync } from "node:fs";
import { defaultModelPath, fetchDefaultModel, MODEL_FETCH_COMMAND } from "@l402-gateway/llm-backend";
import { type Log, ToolUnavailableError, toolsLog } from "./system.js";

/** The default model the llm tests and the regtest backends load: fetched (sha256-checked) when not cached yet. */
export async function ensureDefaultModel(log: Log = toolsLog): Promise<string> {
  const path = defaultModelPath();
  if (existsSync(path)) return path;
  try {
    return await fetchDefaultModel((line) => log(`model: ${line}`));
  } catch (error) {
    throw new ToolUnavailableError(
      `The default model is not cached and could not be fetched: run \`${MODEL_FETCH_COMMAND}\` (it needs Python 3 with pip).\n${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
