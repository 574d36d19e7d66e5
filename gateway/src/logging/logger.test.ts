import { execFile } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger, type RequestLogLine, requestLineWriter, writesSynchronously } from "./logger.js";

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

describe("writesSynchronously", () => {
  it("writes a regular file synchronously, and a pipe asynchronously", async () => {
    const { fd } = logFile();
    expect(writesSynchronously(fd)).toBe(true);
    const fifo = join(mkdtempSync(join(tmpdir(), "gateway-log-")), "pipe");
    await promisify(execFile)("mkfifo", [fifo]);
    // Opened for reading and writing, a FIFO does not wait for a reader (Linux).
    const pipeFd = openSync(fifo, "r+");
    fds.push(pipeFd);
    expect(writesSynchronously(pipeFd)).toBe(false);
    expect(writesSynchronously(-1)).toBe(false);
  });
});

describe("requestLineWriter", () => {
  const lines: RequestLogLine[] = [
    { reqId: "r-1", method: "POST", path: "/v1/free", service: "llm", status: 200, code: undefined, ms: 3 },
    { reqId: "r-2", method: "GET", path: '/odd "path"\\', service: undefined, status: 404, code: "not_routed", ms: 0 },
  ];
  /** The raw lines of a file, with the time (which differs between two writes) blanked. */
  const rawLines = (path: string) =>
    readFileSync(path, "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => line.replace(/"time":\d+/, '"time":0'));

  it.each([
    ["a batched logger", (fd: number) => createLogger(config, { fd })],
    [
      "a worker's child of a shared-output logger",
      (fd: number) => createLogger(config, { fd, sharedOutput: true }).child({ worker: "ab12cd34", leader: true }),
    ],
  ])("writes the bytes pino writes for %s", async (_name, make) => {
    const { path, fd } = logFile();
    const log = make(fd);
    const write = requestLineWriter(log);
    for (const line of lines) {
      write(line);
      log.info(line, "request");
    }
    log.flush();
    await expect.poll(() => rawLines(path).length, { timeout: 30_000 }).toBe(4);
    const [ours1, pino1, ours2, pino2] = rawLines(path);
    expect(ours1).toBe(pino1);
    expect(ours2).toBe(pino2);
    expect(JSON.parse(ours2 as string)).toMatchObject({ msg: "request", path: '/odd "path"\\', code: "not_routed" });
  });

  it("writes nothing below the logger's level, and hands any other logger's line to pino", () => {
    const { path, fd } = logFile();
    requestLineWriter(createLogger({ level: "warn", pretty: false }, { fd, sharedOutput: true }))(
      lines[0] as RequestLogLine,
    );
    expect(rawLines(path)).toEqual([]);
    const seen: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        seen.push(chunk.toString());
        callback();
      },
    });
    const other = pino({ base: undefined, timestamp: false }, sink);
    requestLineWriter(other)(lines[0] as RequestLogLine);
    expect(seen.map((line) => JSON.parse(line))).toEqual([
      { level: 30, reqId: "r-1", method: "POST", path: "/v1/free", service: "llm", status: 200, ms: 3, msg: "request" },
    ]);
  });
});
