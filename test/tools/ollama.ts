import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binaryPath, ensureGoBinary } from "../regtest/binaries.js";
import type { GoBinarySpec } from "../regtest/versions.js";
import { downloadLlamaCppSources } from "./llama-server.js";
import { isExecutableFile, type Log, onceUntilFailure, ToolUnavailableError, toolsLog } from "./system.js";

/** Ollama, built from the Go module proxy like LND: `go build` compiles its vendored ggml (CPU backend) through cgo. */
export const OLLAMA_VERSION = "v0.17.4";

const spec: GoBinarySpec = {
  name: "ollama",
  module: "github.com/ollama/ollama",
  version: OLLAMA_VERSION,
  pkg: ".",
  tags: [],
};

/**
 * Go module zips leave out every `vendor` directory, so the module proxy's Ollama lacks the single-header libraries
 * its llama.cpp includes from `llama/llama.cpp/vendor` (`go build` fails: "nlohmann/json_fwd.hpp: No such file or
 * directory"). They are taken from the llama.cpp that llama-cpp-python's pinned source distribution vendors.
 */
const VENDORED_HEADERS = ["nlohmann/json.hpp", "nlohmann/json_fwd.hpp", "miniaudio/miniaudio.h", "stb/stb_image.h"];

async function vendoredHeaders(log: Log): Promise<Record<string, string>> {
  const work = await mkdtemp(join(tmpdir(), "ollama-vendor-"));
  try {
    const llamaCpp = await downloadLlamaCppSources(work, log);
    const files: Record<string, string> = {};
    for (const header of VENDORED_HEADERS) {
      files[`llama/llama.cpp/vendor/${header}`] = await readFile(join(llamaCpp, "vendor", header), "utf8");
    }
    return files;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The cached `ollama` build (CPU only), built on first use. */
export const ensureOllama = onceUntilFailure(async (log: Log = toolsLog): Promise<string> => {
  if (isExecutableFile(binaryPath(spec))) return binaryPath(spec);
  try {
    return await ensureGoBinary({ ...spec, replacedFiles: await vendoredHeaders(log) }, log);
  } catch (error) {
    throw new ToolUnavailableError(
      `Ollama ${OLLAMA_VERSION} could not be built: Go 1.24+, a C/C++ compiler (cgo), the Go module proxy, and Python 3 with pip (for llama.cpp's vendored headers) are needed.\n${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }
});
