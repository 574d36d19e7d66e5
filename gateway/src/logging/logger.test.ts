import { execFile } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";

const config = { level: "info", pretty: false } as const;
const fds: number[] = [];
const logFile = () => {
  const path = join(mkdtempSync(join(tmpdir(), "gateway-log-")), "gateway.log");
  const fd = openSync(path, "a");
  fds.push(fd);
  return { path, fd };
};
const linesOf = (path: string) =>
  readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as { msg: string; n?: number });

afterEach(() => {
  for (const fd of fds.splice(0)) closeSync(fd);
});

describe("createLogger", () => {
  it("writes a lone line within the flush interval, without more traffic to fill a batch", async () => {
    const { path, fd } = logFile();
    createLogger(config, { fd }).info("gateway listening");
    await expect.poll(() => linesOf(path).map((line) => line.msg), { timeout: 30_000 }).toEqual(["gateway listening"]);
  });

  it("writes every batched line when the process exits at once", async () => {
    const { path } = logFile();
    const logger = new URL("../../dist/logging/logger.js", import.meta.url).href;
    const script = `
      import { openSync } from "node:fs";
      const { createLogger } = await import(${JSON.stringify(logger)});
      const log = createLogger({ level: "info", pretty: false }, { fd: openSync(${JSON.stringify(path)}, "a") });
      for (let n = 0; n < 2000; n++) log.info({ n }, "request");
      process.exit(0);`;
    await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script]);
    const lines = linesOf(path);
    expect(lines.map((line) => line.n)).toEqual(Array.from({ length: 2000 }, (_, n) => n));
  });

  it("writes each line whole and at once when processes share the output", () => {
    const { path, fd } = logFile();
    const log = createLogger(config, { fd, sharedOutput: true });
    log.info({ n: 1 }, "request");
    expect(linesOf(path)).toMatchObject([{ msg: "request", n: 1 }]);
  });
});
