import { createHash } from "node:crypto";
import { access, mkdir, readFile, rename } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { goEnv } from "../../test/regtest/binaries.js";
import { runCommand } from "../../test/regtest/command.js";
import { cacheRoot } from "../../test/regtest/paths.js";

const goModule = join(dirname(fileURLToPath(import.meta.url)), "..", "gateway", "go");

/**
 * Builds one of the benchmark's Go programs (bench/gateway/go/<name>, standard library only) once per source
 * version, cached beside the Lightning binaries. Go programs load and answer the gateway so that neither the load
 * generator nor the upstream competes with Node's event loop for what is measured.
 */
export async function goTool(name: "loadgen" | "upstream"): Promise<string> {
  const source = await readFile(join(goModule, name, "main.go"));
  const version = createHash("sha256").update(source).digest("hex").slice(0, 12);
  const target = join(cacheRoot(), "bench", `${name}-${version}`);
  try {
    await access(target);
    return target;
  } catch {
    // Not built yet.
  }
  await mkdir(dirname(target), { recursive: true });
  const partial = `${target}.partial-${process.pid}`;
  const built = await runCommand("go", ["build", "-o", partial, `./${name}`], { cwd: goModule, env: goEnv() }).catch(
    (error: Error) => ({ code: -1, stdout: "", stderr: error.message }),
  );
  if (built.code !== 0) {
    const output = `${built.stdout}${built.stderr}`.trim();
    throw new Error(`could not build the benchmark's ${name} with Go (Go 1.22+ is needed):\n${output}`);
  }
  await rename(partial, target);
  return target;
}
