import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { access, mkdir, readFile, rename } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cacheRoot } from "../../test/regtest/paths.js";

const goModule = join(dirname(fileURLToPath(import.meta.url)), "..", "gateway", "go");

function run(command: string, args: string[], cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, GOTOOLCHAIN: "local", GOWORK: "off", GOFLAGS: "-mod=readonly" },
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    child.on("error", (error) => resolve({ code: -1, output: error.message }));
    child.on("close", (code) => resolve({ code: code ?? -1, output }));
  });
}

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
  const built = await run("go", ["build", "-o", partial, `./${name}`], goModule);
  if (built.code !== 0) {
    throw new Error(`could not build the benchmark's ${name} with Go (Go 1.22+ is needed):\n${built.output.trim()}`);
  }
  await rename(partial, target);
  return target;
}
