import { access, chmod, constants, cp, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { buildOnce } from "./build-lock.js";
import { runCommand, tail } from "./command.js";
import { GoBuildProgress, withoutPackageNames } from "./go-build-output.js";
import { cacheRoot } from "./paths.js";
import { GO_BINARIES, type GoBinaryName, type GoBinarySpec } from "./versions.js";

export class BinaryBuildError extends Error {
  override readonly name = "BinaryBuildError";
}

export type BinaryPaths = Record<GoBinaryName, string>;

type Log = (line: string) => void;
const defaultLog: Log = (line) => process.stderr.write(`[regtest] ${line}\n`);

export function binaryPath(spec: GoBinarySpec): string {
  return join(cacheRoot(), "bin", `${spec.name}-${spec.version}`, spec.name);
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function goEnv(): NodeJS.ProcessEnv {
  // GOTOOLCHAIN=local: never fetch another Go toolchain behind the user's back; GOWORK=off: ignore any go.work above.
  return { ...process.env, GOTOOLCHAIN: "local", GOWORK: "off", GOFLAGS: "-mod=readonly" };
}

async function assertGoAvailable(what: string): Promise<string> {
  try {
    const result = await runCommand("go", ["version"], { env: goEnv() });
    if (result.code !== 0) throw new Error(result.stderr);
    return result.stdout.trim();
  } catch (error) {
    throw new BinaryBuildError(
      `The Go toolchain is needed to build ${what}, but 'go version' failed (${(error as Error).message.trim() || "not found on PATH"}). Install Go 1.24 or newer and retry.`,
    );
  }
}

/**
 * Go refuses to build module-cache files replaced by an overlay: a spec with `replacedFiles` is built from a copy of its
 * module under the cache root, made once and shared by every program built from it (so Go's build cache is too).
 */
async function patchedSource(spec: GoBinarySpec, moduleDir: string, log: Log): Promise<string> {
  const replaced = spec.replacedFiles;
  if (!replaced) return moduleDir;
  const target = join(cacheRoot(), "src", `${spec.module.split("/").at(-1)}@${spec.version}`);
  if (await isExecutable(target)) return target;
  log(`copying ${spec.module}@${spec.version} to ${target} to replace ${Object.keys(replaced).join(", ")}`);
  const partial = `${target}.partial-${process.pid}`;
  try {
    await cp(moduleDir, partial, { recursive: true });
    // The module cache is read-only; the copy must be writable to patch it and, later, to delete it.
    await runCommand("chmod", ["-R", "u+w", partial]);
    for (const [file, content] of Object.entries(replaced)) {
      await mkdir(dirname(join(partial, file)), { recursive: true }); // a replaced file may be one the module lacks
      await writeFile(join(partial, file), content);
    }
    await rename(partial, target).catch(async (error: unknown) => {
      if (!(await isExecutable(target))) throw error; // else another run made the same copy first
    });
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return target;
}

/** `go mod download` a pinned module and return its directory in the module cache. */
async function downloadModule(spec: GoBinarySpec, log: Log): Promise<string> {
  const ref = `${spec.module}@${spec.version}`;
  log(`downloading ${ref} from the Go module proxy`);
  const result = await runCommand("go", ["mod", "download", "-json", ref], { env: goEnv(), timeoutMs: 15 * 60_000 });
  let parsed: { Dir?: string; Error?: string } = {};
  try {
    parsed = JSON.parse(result.stdout) as typeof parsed;
  } catch {
    // Fall through: reported below with go's own stderr.
  }
  if (result.code !== 0 || !parsed.Dir) {
    const proxy = process.env.GOPROXY ?? "the default proxy";
    throw new BinaryBuildError(
      `Could not download ${ref} through the Go module proxy (GOPROXY=${proxy}): ${parsed.Error ?? tail(result.stderr, 10)}`,
    );
  }
  return parsed.Dir;
}

/**
 * Compiler flags of a first build, chosen for its cost and not its output. Go's default cgo flags are `-O2 -g`; the
 * C/C++ debug information that `-g` adds costs compile time (Ollama's cgo compiles llama.cpp and ggml) and is then
 * stripped by `-ldflags=-s -w` anyway. GCC's `-g` does not change the generated code, so a binary cached by an earlier
 * build with `-g` behaves the same and is kept. CGO_CFLAGS/CGO_CXXFLAGS set by the user win.
 */
function goBuildEnv(): NodeJS.ProcessEnv {
  const env = goEnv();
  return { ...env, CGO_CFLAGS: env.CGO_CFLAGS ?? "-O2", CGO_CXXFLAGS: env.CGO_CXXFLAGS ?? "-O2" };
}

/** How many packages `go build` will compile at most (the program's dependencies), for progress lines. */
async function packageCount(
  spec: GoBinarySpec,
  moduleDir: string,
  tags: readonly string[],
): Promise<number | undefined> {
  const listed = await runCommand("go", ["list", ...tags, "-deps", spec.pkg], { cwd: moduleDir, env: goBuildEnv() });
  return listed.code === 0 ? listed.stdout.trim().split("\n").length : undefined;
}

/** Builds one binary inside its module's directory, so the module's own replace directives apply. */
async function buildBinary(spec: GoBinarySpec, target: string, log: Log): Promise<void> {
  const moduleDir = await patchedSource(spec, await downloadModule(spec, log), log);
  await mkdir(join(target, ".."), { recursive: true });
  const partial = `${target}.partial-${process.pid}`;
  const tags = spec.tags.length > 0 ? ["-tags", spec.tags.join(" ")] : [];
  log(
    `building ${spec.name} ${spec.version}${spec.tags.length ? ` (tags: ${spec.tags.join(" ")})` : ""}; the first build takes minutes`,
  );
  const started = Date.now();
  const total = await packageCount(spec, moduleDir, tags);
  // `go build -v` names each package as it is compiled: counted, they show how far a long first build has got.
  const progress = new GoBuildProgress();
  const heartbeat = setInterval(() => {
    const { compiled, last } = progress;
    const done =
      compiled > 0 ? ` ${compiled}${total ? ` of at most ${total}` : ""} packages compiled (last: ${last}),` : "";
    log(`  still building ${spec.name}…${done} ${Math.round((Date.now() - started) / 1000)} s`);
  }, 20_000);
  try {
    const result = await runCommand(
      "go",
      ["build", "-trimpath", "-ldflags=-s -w", "-v", ...tags, "-o", partial, spec.pkg],
      {
        cwd: moduleDir,
        env: goBuildEnv(),
        timeoutMs: 60 * 60_000,
        onStderr: (chunk) => progress.feed(chunk),
      },
    );
    if (result.code !== 0) {
      throw new BinaryBuildError(
        `go build of ${spec.name} ${spec.version} failed:\n${tail(withoutPackageNames(result.stderr), 30)}`,
      );
    }
    await chmod(partial, 0o755);
    await rename(partial, target);
  } finally {
    clearInterval(heartbeat);
    await rm(partial, { force: true });
  }
  log(`built ${spec.name} in ${Math.round((Date.now() - started) / 1000)} s -> ${target}`);
}

/** Returns the cached binary, building it first if it is not cached yet. */
export function ensureBinary(name: GoBinaryName, log: Log = defaultLog): Promise<string> {
  return ensureGoBinary(GO_BINARIES[name], log);
}

/** Returns the cached build of any pinned Go module's program, building it first if it is not cached yet. */
export async function ensureGoBinary(spec: GoBinarySpec, log: Log = defaultLog): Promise<string> {
  const target = binaryPath(spec);
  if (await isExecutable(target)) return target;
  await mkdir(dirname(target), { recursive: true });
  // Several first runs at once (checkouts sharing the cache) build each binary once: the others wait for it.
  await buildOnce({
    lockPath: `${target}.lock`,
    what: `${spec.name} ${spec.version}`,
    isBuilt: () => isExecutable(target),
    build: async () => {
      const goVersion = await assertGoAvailable(spec.name);
      log(`${spec.name} ${spec.version} is not cached; building it with ${goVersion}`);
      await buildBinary(spec, target, log);
    },
    log,
  });
  return target;
}

/** Ensures all four binaries, one after another (parallel Go builds only thrash a small machine). */
export async function ensureBinaries(log: Log = defaultLog): Promise<BinaryPaths> {
  const names = Object.keys(GO_BINARIES) as GoBinaryName[];
  const paths: Partial<BinaryPaths> = {};
  for (const name of names) paths[name] = await ensureBinary(name, log);
  return paths as BinaryPaths;
}
