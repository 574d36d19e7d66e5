import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tail } from "./command.js";

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error?: Error;
}

export class ProcessExitedError extends Error {
  override readonly name = "ProcessExitedError";
}

export interface ProcessSpec {
  /** Short label used in messages, e.g. "alice (lnd)". */
  readonly label: string;
  readonly program: string;
  readonly args: readonly string[];
  /** stdout and stderr are appended here; its tail explains failures. */
  readonly logFile: string;
  readonly cwd?: string;
}

/** A long-running child (btcd, lnd) in its own process group, with its output in a log file. */
export class ManagedProcess {
  readonly pid: number;
  readonly label: string;
  readonly logFile: string;
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;

  constructor(spec: ProcessSpec) {
    this.label = spec.label;
    this.logFile = spec.logFile;
    const fd = openSync(spec.logFile, "a");
    try {
      // Own process group: a Ctrl-C in the terminal reaches us, and we stop the children in order.
      const child = spawn(spec.program, spec.args, { cwd: spec.cwd, detached: true, stdio: ["ignore", fd, fd] });
      this.exited = new Promise((resolvePromise) => {
        child.once("error", (error) => {
          this.exitInfo = { code: null, signal: null, error };
          resolvePromise(this.exitInfo);
        });
        child.once("exit", (code, signal) => {
          this.exitInfo = { code, signal };
          resolvePromise(this.exitInfo);
        });
      });
      child.unref();
      this.pid = child.pid ?? -1;
    } finally {
      closeSync(fd);
    }
    liveProcesses.add(this);
    void this.exited.then(() => liveProcesses.delete(this));
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  async logTail(lines = 25): Promise<string> {
    try {
      return tail(await readFile(this.logFile, "utf8"), lines);
    } catch {
      return "(no log written)";
    }
  }

  /** If the process has ended, an error that says how and shows the tail of its log. */
  async exitError(): Promise<ProcessExitedError | undefined> {
    const info = this.exitInfo;
    if (!info) return undefined;
    const how = info.error
      ? `could not be started: ${info.error.message}`
      : `exited early (${info.signal ? `signal ${info.signal}` : `code ${info.code}`})`;
    return new ProcessExitedError(`${this.label} ${how}. Last lines of ${this.logFile}:\n${await this.logTail()}`);
  }

  /** SIGTERM, then SIGKILL if it has not exited within the grace period. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    signalGroup(this.pid, "SIGTERM");
    const timedOut = Symbol("timeout");
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      this.exited,
      new Promise<typeof timedOut>((resolvePromise) => {
        timer = setTimeout(() => resolvePromise(timedOut), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (outcome === timedOut) {
      signalGroup(this.pid, "SIGKILL");
      await this.exited;
    }
  }

  /** Immediate, synchronous kill for the process 'exit' hook. */
  killNow(): void {
    if (this.running) signalGroup(this.pid, "SIGKILL");
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

const liveProcesses = new Set<ManagedProcess>();

/**
 * Stops every child this process started that is still running, including any started while the others were being
 * stopped (a network still starting when a signal came), so none is left when this resolves.
 */
export async function stopAllProcesses(): Promise<void> {
  while (liveProcesses.size > 0) await Promise.all([...liveProcesses].map((proc) => proc.stop()));
}

let hooksInstalled = false;

/**
 * Makes sure no child outlives this process: SIGKILL on exit, graceful stop on SIGINT/SIGTERM.
 * Not used by `regtest:up`, whose network must outlive the command.
 */
export function stopChildrenOnExit(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once("exit", () => {
    for (const proc of liveProcesses) proc.killNow();
  });
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ] as const) {
    process.once(signal, () => {
      void stopAllProcesses().finally(() => {
        // Only exit ourselves if nobody else (e.g. the test runner) handles the signal.
        if (process.listenerCount(signal) === 0) process.exit(code);
      });
    });
  }
}
