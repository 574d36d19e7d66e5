/** The name every server answers to for the one model it serves, whatever its file is called. */
export const DEFAULT_MODEL_NAME = "default";

// A GGUF file's name ends in its quantisation (SmolLM2-135M-Instruct.Q4_1, Llama-3-8B-Instruct-Q4_K_M, …-f16).
const QUANTISATION_SUFFIX = /[.-](?:I?Q\d[\w]*|[BF]?F(?:16|32)|BF16)$/i;

/** The model's id without its quantisation suffix (`SmolLM2-135M-Instruct` for `SmolLM2-135M-Instruct.Q4_1`). */
export function shortModelName(modelId: string): string {
  const short = modelId.replace(QUANTISATION_SUFFIX, "");
  return short === "" ? modelId : short;
}

/** Whether a request's `model` names the served model: its full id, its short name or `default`. */
export function namesServedModel(requested: string, modelId: string): boolean {
  return requested === modelId || requested === DEFAULT_MODEL_NAME || requested === shortModelName(modelId);
}
