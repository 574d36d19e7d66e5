import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { once } from "node:events";
import { resolve } from "node:path";

const REPO_ROOT = resolve(import.meta.dirname, "..", "..", "..");

/**
 * Starts one child per argument list running `script` (TypeScript, through tsx), waits until every child printed
 * "ready", then sends them all "go" at once, and resolves with their exit codes and stderr once all have exited.
 */
export async function raceChildren(
  script: string,
  argLists: readonly (readonly string[])[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ChildResult[]> {
  const children = argLists.map((args) =>
    spawn(process.execPath, ["--import", "tsx", script, ...args], { cwd: REPO_ROOT, env, stdio: "pipe" }),
  );
  const results = children.map(collect);
  await Promise.all(children.map(readyLine));
  for (const child of children) child.stdin.write("go\n");
  return Promise.all(results);
}

export interface ChildResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

async function collect(child: ChildProcessWithoutNullStreams): Promise<ChildResult> {
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stdout, stderr };
}

function readyLine(child: ChildProcessWithoutNullStreams): Promise<void> {
  return new Promise((resolveReady, rejectReady) => {
    let stdout = "";
    const onData = (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes("ready\n")) {
        child.stdout.off("data", onData);
        resolveReady();
      }
    };
    child.stdout.on("data", onData);
    child.once("exit", (code) => rejectReady(new Error(`child exited with ${code} before it was ready`)));
  });
}
