import { fstatSync } from "node:fs";
import pino, { type Logger } from "pino";
import type { GatewayConfig } from "../config/schema.js";

/** Bytes of log lines gathered before one write: the request path never waits on the log's file or pipe. */
const BATCH_BYTES = 4_096;
/** How long a line may wait in the batch when traffic is light. */
export const LOG_FLUSH_INTERVAL_MS = 1_000;

export interface LoggerOptions {
  /** Where JSON lines go; stdout by default. */
  readonly fd?: number;
  /**
   * Several processes write to the same output (the cluster's primary and workers): each line is then written whole
   * and at once, as batches larger than a pipe's atomic write could interleave with another process's lines.
   */
  readonly sharedOutput?: boolean;
}

type Destination = ReturnType<typeof pino.destination>;

/** Loggers made by createLogger that write plain JSON lines: their lines have pino's default shape. */
const plainLoggers = new WeakSet<Logger>();

/** Batches of lines handed to their destination but not yet written, written at once when the process exits. */
const unwritten = new Set<LineBatch>();
let exitHookInstalled = false;

/**
 * Lines gathered in memory and handed to sonic-boom a batch at a time. sonic-boom measures the bytes of each write and
 * of its growing buffer (a cost per line that grows with the batch); handed whole batches, it pays that once per
 * batch. It still owns the output: the asynchronous writes, retries on a full pipe, the flush on exit.
 */
class LineBatch {
  private lines: string[] = [];
  private chars = 0;

  constructor(
    private readonly destination: Destination,
    private readonly batchChars: number,
  ) {}

  write(line: string): boolean {
    this.lines.push(line);
    this.chars += line.length;
    if (this.chars >= this.batchChars) this.flush();
    return true;
  }

  /** Hands the lines gathered so far to the destination, which writes them at once unless a write is in flight. */
  flush(): void {
    if (this.lines.length === 0) return;
    const batch = this.lines.length === 1 ? (this.lines[0] as string) : this.lines.join("");
    this.lines = [];
    this.chars = 0;
    this.destination.write(batch);
  }

  /** Writes everything left, synchronously (the process is exiting). */
  flushSync(): void {
    this.flush();
    this.destination.flushSync();
  }
}

/**
 * Whether batches go to `fd` with a synchronous write: yes for a regular file, which a write never leaves waiting on a
 * reader, and where one 4 KB write costs the event loop less than handing it to libuv's thread pool and taking its
 * completion back (that round trip, with sonic-boom's work, came to about 4 µs per request line as operators run the
 * gateway, bench/gateway/profile-operator.ts). A pipe, socket or terminal (journald, a container runtime, a shell) is
 * written asynchronously: a slow reader must not stall the request path.
 */
export function writesSynchronously(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

/**
 * The gateway's logger: JSON lines, or pino-pretty when the config asks for it. One process alone on its output logs
 * in batches (fed whole to sonic-boom by LineBatch), written synchronously to a regular file and asynchronously to
 * anything else (see writesSynchronously): a synchronous write per request line was the largest cost the gateway paid
 * as operators run it over the benchmark's silent set-up, and sonic-boom's work per line the next. Batches are
 * written at least every second, and synchronously when the process exits.
 */
export function createLogger(config: GatewayConfig["log"], options: LoggerOptions = {}): Logger {
  const base = { level: config.level, name: "l402-gateway" };
  if (config.pretty) return pino({ ...base, transport: { target: "pino-pretty" } });
  const fd = options.fd ?? 1;
  if (options.sharedOutput) return plain(pino(base, pino.destination({ dest: fd, sync: true })));
  const destination = pino.destination({ dest: fd, sync: writesSynchronously(fd) });
  const batch = new LineBatch(destination, BATCH_BYTES);
  unwritten.add(batch);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on("exit", () => {
      for (const pending of unwritten) {
        try {
          pending.flushSync();
        } catch {
          // The output was closed or broken: nothing more can be written to it.
        }
      }
    });
  }
  const flusher = setInterval(() => {
    try {
      batch.flush();
    } catch {
      clearInterval(flusher); // the output was closed: nothing is left to write
    }
  }, LOG_FLUSH_INTERVAL_MS);
  flusher.unref();
  destination.on("close", () => {
    clearInterval(flusher);
    unwritten.delete(batch);
  });
  return plain(pino(base, batch));
}

function plain(logger: Logger): Logger {
  plainLoggers.add(logger);
  return logger;
}

/** The fields of the line the gateway logs for each request it answered. */
export interface RequestLogLine {
  readonly reqId: string;
  readonly method: string | undefined;
  readonly path: string | undefined;
  readonly service: string | undefined;
  readonly status: number;
  readonly code: string | undefined;
  readonly ms: number;
}

/** Printable ASCII but the quote and the backslash: what JSON holds as is (ids, methods, canonical paths, names). */
const PLAIN_JSON_TEXT = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const jsonString = (value: string) => (PLAIN_JSON_TEXT.test(value) ? `"${value}"` : JSON.stringify(value));
const stringField = (name: string, value: string | undefined) =>
  value === undefined ? "" : `,"${name}":${jsonString(value)}`;

/**
 * Writes the line logged for each request at `info`. Logged through pino's `info`, that line cost a free request
 * about 12 µs as operators run the gateway (bench/gateway/profile-operator.ts), most of it pino's generic walk over
 * whatever object it is handed. For a logger of createLogger's (or a child of one), this writes the same bytes pino
 * would (level, time, the logger's bindings, the fields in order, msg) from a template into the logger's own
 * destination; any other logger (pretty output, a test's) gets the line through pino.
 */
export function requestLineWriter(log: Logger): (line: RequestLogLine) => void {
  const viaPino = (line: RequestLogLine) => log.info(line, "request");
  let root: object | null = log;
  while (root !== null && !plainLoggers.has(root as Logger)) root = Object.getPrototypeOf(root);
  const internals = log as unknown as Record<symbol, unknown>;
  const bindings = internals[pino.symbols.chindingsSym];
  const stream = internals[pino.symbols.streamSym] as { write?: unknown } | undefined;
  if (root === null || typeof bindings !== "string" || typeof stream?.write !== "function") return viaPino;
  const write = stream.write.bind(stream) as (line: string) => unknown;
  const level = log.levels.values.info;
  return (line) => {
    if (!log.isLevelEnabled("info")) return;
    write(
      `{"level":${level},"time":${Date.now()}${bindings},"reqId":${jsonString(line.reqId)}` +
        `${stringField("method", line.method)}${stringField("path", line.path)}` +
        `${stringField("service", line.service)},"status":${line.status}${stringField("code", line.code)}` +
        `,"ms":${line.ms},"msg":"request"}\n`,
    );
  };
}
