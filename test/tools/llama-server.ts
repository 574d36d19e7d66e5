import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readdir, rename, rm } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { buildOnce } from "../regtest/build-lock.js";
import { runCommand, tail } from "../regtest/command.js";
import { cacheRoot } from "../regtest/paths.js";
import { isExecutableFile, type Log, onceUntilFailure, ToolUnavailableError, toolsLog } from "./system.js";

/**
 * llama.cpp's `llama-server`, built from the llama.cpp that the `llama-cpp-python` source distribution on PyPI vendors
 * (pinned with its sha256): CPU only, only the server target, statically linked so the cached binary stands alone.
 */
export const LLAMA_CPP_PYTHON = {
  version: "0.3.36",
  sdistSha256: "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e",
} as const;

/**
 * Already the cheapest build of the same server: Release (`-O3`, no `-g`, no LTO), only the CPU variant for this
 * machine (`GGML_NATIVE`, no dynamically loaded backends), only the `llama-server` target, and no web UI to build; every
 * library it compiles (ggml, llama, common, mtmd, the server's own) is linked into it. About 13 CPU-minutes (README).
 * The cached binary's path names only the version: an option that changes the code produced (optimisation, CPU
 * variants, backends) must change that path too, or a binary built the old way is silently reused.
 */
const CMAKE_OPTIONS = [
  "-DCMAKE_BUILD_TYPE=Release",
  "-DBUILD_SHARED_LIBS=OFF",
  "-DLLAMA_BUILD_SERVER=ON",
  "-DLLAMA_BUILD_TOOLS=ON",
  "-DLLAMA_BUILD_TESTS=OFF",
  "-DLLAMA_BUILD_EXAMPLES=OFF",
  "-DLLAMA_BUILD_APP=OFF",
  // No network at build or run time: no curl downloads, no TLS, no prebuilt web UI fetched from a bucket.
  "-DLLAMA_CURL=OFF",
  "-DLLAMA_OPENSSL=OFF",
  "-DLLAMA_USE_PREBUILT_UI=OFF",
  "-DGGML_CUDA=OFF",
  "-DGGML_METAL=OFF",
  "-DGGML_VULKAN=OFF",
  "-DGGML_CCACHE=OFF",
];

export function llamaServerPath(): string {
  return join(cacheRoot(), "bin", `llama-server-${LLAMA_CPP_PYTHON.version}`, "llama-server");
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest("hex");
}

async function checked(program: string, args: readonly string[], what: string, cwd?: string): Promise<string> {
  const result = await runCommand(program, args, { cwd, timeoutMs: 20 * 60_000 });
  if (result.code !== 0)
    throw new Error(
      `${what} failed (${program} exited with ${result.code}):\n${tail(result.stderr || result.stdout, 30)}`,
    );
  return result.stdout;
}

/** Runs the cmake build, logging its percentage every 20 s (and once per 10 %) so a first run shows it is alive. */
function buildWithProgress(buildDir: string, log: Log): Promise<void> {
  const jobs = String(Math.max(1, Math.min(availableParallelism(), 2)));
  const child = spawn("cmake", ["--build", buildDir, "--target", "llama-server", "-j", jobs], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const started = Date.now();
  let percent = 0;
  let lastLoggedTenth = 0;
  let output = "";
  const collect = (chunk: Buffer) => {
    const text = chunk.toString();
    output = (output + text).slice(-64_000);
    for (const match of text.matchAll(/^\[\s*(\d+)%\]/gm)) percent = Math.max(percent, Number(match[1]));
    if (Math.floor(percent / 10) > lastLoggedTenth) {
      lastLoggedTenth = Math.floor(percent / 10);
      log(`  llama-server build ${percent}% (${Math.round((Date.now() - started) / 1000)} s)`);
    }
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const heartbeat = setInterval(() => {
    log(`  still building llama-server… ${percent}%, ${Math.round((Date.now() - started) / 1000)} s`);
  }, 20_000);
  return new Promise((resolvePromise, reject) => {
    child.on("error", (error) => reject(new Error(`could not run cmake: ${error.message}`)));
    child.on("close", (code) => {
      clearInterval(heartbeat);
      if (code === 0) resolvePromise();
      else reject(new Error(`cmake --build exited with ${code}:\n${tail(output, 30)}`));
    });
  });
}

const WORK_DIR_PREFIX = ".llama-server-build-";

/**
 * Downloads the pinned `llama-cpp-python` source distribution into `work` (sha256-checked), extracts it there and
 * returns the directory of the llama.cpp it vendors.
 */
export async function downloadLlamaCppSources(work: string, log: Log): Promise<string> {
  const spec = `llama-cpp-python==${LLAMA_CPP_PYTHON.version}`;
  log(`downloading the ${spec} source distribution from PyPI (about 77 MB; it vendors llama.cpp)`);
  await checked(
    "python3",
    ["-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--disable-pip-version-check", "-d", work, spec],
    "pip download",
  );
  const sdist = join(work, `llama_cpp_python-${LLAMA_CPP_PYTHON.version}.tar.gz`);
  const sha = await sha256OfFile(sdist);
  if (sha !== LLAMA_CPP_PYTHON.sdistSha256) {
    throw new Error(`${sdist} has sha256 ${sha}, expected ${LLAMA_CPP_PYTHON.sdistSha256}`);
  }
  await checked("tar", ["-xzf", sdist, "-C", work], "extracting the source distribution");
  return join(work, `llama_cpp_python-${LLAMA_CPP_PYTHON.version}`, "vendor", "llama.cpp");
}

async function buildLlamaServer(target: string, log: Log): Promise<void> {
  const started = Date.now();
  // Called under the build lock: a work directory left here is a killed build's (about 300 MB to 1 GB), reclaimed.
  for (const entry of await readdir(cacheRoot())) {
    if (entry.startsWith(WORK_DIR_PREFIX)) await rm(join(cacheRoot(), entry), { recursive: true, force: true });
  }
  const work = await mkdtemp(join(cacheRoot(), WORK_DIR_PREFIX));
  try {
    const source = await downloadLlamaCppSources(work, log);
    const buildDir = join(work, "build");
    log(`configuring llama.cpp (CPU only) with cmake`);
    await checked("cmake", ["-S", source, "-B", buildDir, ...CMAKE_OPTIONS], "cmake configure");
    log("building llama-server; the first build takes minutes");
    await buildWithProgress(buildDir, log);
    const partial = `${target}.partial-${process.pid}`;
    await copyFile(join(buildDir, "bin", "llama-server"), partial);
    await chmod(partial, 0o755);
    await rename(partial, target);
    log(
      `built llama-server (llama-cpp-python ${LLAMA_CPP_PYTHON.version}) in ${Math.round((Date.now() - started) / 1000)} s -> ${target}`,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The cached `llama-server`, built on first use (cmake and a C++ compiler, and pip to fetch the sources). */
export const ensureLlamaServer = onceUntilFailure(async (log: Log = toolsLog): Promise<string> => {
  const target = llamaServerPath();
  if (isExecutableFile(target)) return target;
  try {
    await mkdir(dirname(target), { recursive: true });
    await buildOnce({
      lockPath: `${target}.lock`,
      what: `llama-server (llama-cpp-python ${LLAMA_CPP_PYTHON.version})`,
      isBuilt: async () => isExecutableFile(target),
      build: () => buildLlamaServer(target, log),
      log,
    });
    return target;
  } catch (error) {
    throw new ToolUnavailableError(
      `llama-server could not be built: cmake, a C++ compiler and Python 3 with pip are needed.\n${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }
});
