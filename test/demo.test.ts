import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./regtest/paths.js";

/** Output of a child process so far, and a way to wait for a line in it. */
function watch(child: ChildProcess) {
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  return {
    text: () => output,
    waitFor: (pattern: RegExp, timeoutMs: number) =>
      expect.poll(() => pattern.test(output), { timeout: timeoutMs, interval: 250 }).toBe(true),
  };
}

describe("npm run demo", () => {
  it("answers a paid question, stays up, and stops everything cleanly on Ctrl-C", { timeout: 480_000 }, async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "demo/main.ts"], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const output = watch(child);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await output.waitFor(/The stack stays up/, 420_000);
      expect(output.text()).toMatch(/paid: {8}\d+ sats/);
      expect(output.text()).toMatch(/this call: {3}\d+ msat/);
      const runDir = /run directory (\S+)/.exec(output.text())?.[1];
      expect(runDir).toMatch(/l402-regtest/);
      child.kill("SIGINT");
      expect(await exited).toBe(0);
      // Every process of the demo's regtest network is gone with it.
      const left = execFileSync("ps", ["-eo", "args"])
        .toString()
        .split("\n")
        .filter((line) => runDir && line.includes(runDir));
      expect(left).toEqual([]);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
