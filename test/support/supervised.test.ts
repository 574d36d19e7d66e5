import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { supervise } from "./supervised.js";

describe("supervise", () => {
  it("keeps the last MiB of a chatty process's output and still finds what it prints last", async () => {
    const script = 'process.stdout.write("x".repeat(3 * 1024 * 1024)); console.log("listening at the end");';
    const proc = supervise(spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "pipe"] }));
    expect((await proc.match(/listening at the (\w+)/))[1]).toBe("end");
    await proc.kill();
    expect(proc.output().length).toBeLessThanOrEqual(1024 * 1024);
    expect(proc.output()).toMatch(/^x+listening at the end\n$/);
  });

  // A timeout would say "was not ready within 30 s": this message means the wait ended when the process did.
  it("fails a wait at once when the process ends without printing the pattern", async () => {
    const proc = supervise(
      spawn(process.execPath, ["-e", 'console.log("bye")'], { stdio: ["ignore", "pipe", "pipe"] }),
    );
    await expect(proc.match(/listening/, 30_000)).rejects.toThrow(
      "the process exited without printing /listening/:\nbye",
    );
  });
});
