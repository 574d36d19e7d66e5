import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { goEnv } from "./binaries.js";
import { runCommand } from "./command.js";
import { GoBuildProgress, withoutPackageNames } from "./go-build-output.js";

describe("go build -v progress", () => {
  it("counts package lines split across chunks, and not the error lines", () => {
    const progress = new GoBuildProgress();
    for (const chunk of [
      "internal/by",
      "telealg\nruntime\ngithub.com/ollama/oll",
      "ama/llama/llama.cpp/src\n# github.com/x/y\n",
    ]) {
      progress.feed(chunk);
    }
    progress.feed("y.go:3:2: undefined: z\nnet/ht");
    expect(progress.compiled).toBe(3);
    expect(progress.last).toBe("github.com/ollama/ollama/llama/llama.cpp/src");
    expect(withoutPackageNames("runtime\n# github.com/x/y\ny.go:3:2: undefined: z\nnet/http")).toBe(
      "# github.com/x/y\ny.go:3:2: undefined: z",
    );
  });

  describe("against a real go build", () => {
    let dir = "";
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "go-progress-"));
      await mkdir(join(dir, "greet"));
      await writeFile(join(dir, "go.mod"), "module example.com/progress\n\ngo 1.22\n");
      await writeFile(join(dir, "greet", "greet.go"), 'package greet\n\nfunc Hello() string { return "hi" }\n');
      await writeFile(
        join(dir, "main.go"),
        'package main\n\nimport "example.com/progress/greet"\n\nfunc main() { println(greet.Hello()) }\n',
      );
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    it("sees each package it compiles, and a failure's message without them", async () => {
      const progress = new GoBuildProgress();
      const built = await runCommand("go", ["build", "-v", "-o", join(dir, "progress"), "."], {
        cwd: dir,
        env: goEnv(),
        onStderr: (chunk) => progress.feed(chunk),
      });
      expect(built.code).toBe(0);
      expect(progress.compiled).toBeGreaterThanOrEqual(2); // and the standard library's, where Go's cache lacks them
      expect(built.stderr.split("\n")).toEqual(
        expect.arrayContaining(["example.com/progress/greet", "example.com/progress"]),
      );

      await writeFile(join(dir, "greet", "greet.go"), "package greet\n\nfunc Hello() string { return missing }\n");
      const failed = await runCommand("go", ["build", "-v", "-o", join(dir, "progress"), "."], {
        cwd: dir,
        env: goEnv(),
      });
      expect(failed.code).not.toBe(0);
      expect(withoutPackageNames(failed.stderr)).toContain("undefined: missing");
      expect(withoutPackageNames(failed.stderr)).not.toMatch(/^example\.com\/progress\/greet$/m);
    });
  });
});
