import { ensureGoBinary } from "../regtest/binaries.js";
import type { GoBinarySpec } from "../regtest/versions.js";
import { type Log, onceUntilFailure, ToolUnavailableError, toolsLog } from "./system.js";

/** Ollama, built from the Go module proxy like LND: `go build` compiles its vendored ggml (CPU backend) through cgo. */
export const OLLAMA_VERSION = "v0.17.4";

const spec: GoBinarySpec = {
  name: "ollama",
  module: "github.com/ollama/ollama",
  version: OLLAMA_VERSION,
  pkg: ".",
  tags: [],
};

/** The cached `ollama` build (CPU only), built on first use. */
export const ensureOllama = onceUntilFailure(async (log: Log = toolsLog): Promise<string> => {
  try {
    return await ensureGoBinary(spec, log);
  } catch (error) {
    throw new ToolUnavailableError(
      `Ollama ${OLLAMA_VERSION} could not be built: Go 1.24+, a C/C++ compiler (cgo) and the Go module proxy are needed.\n${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }
});
