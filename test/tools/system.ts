import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export type Log = (line: string) => void;
export const toolsLog: Log = (line) => process.stderr.write(`[tools] ${line}\n`);

/** A program a test needs is neither installed nor could be provided; the message says how to get it. */
export class ToolUnavailableError extends Error {
  override readonly name = "ToolUnavailableError";
}

/**
 * `L402_IGNORE_SYSTEM_TOOLS=1` makes the tests use the project's own copies of Prometheus and PostgreSQL even where the
 * system has them: how to try the provisioning of a fresh machine on one that is not.
 */
export function systemToolsIgnored(): boolean {
  const value = process.env.L402_IGNORE_SYSTEM_TOOLS;
  return value !== undefined && value !== "" && value !== "0" && value !== "false";
}

export function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Each program's path on $PATH, or undefined unless all are there (or when system tools are ignored). */
export function systemPrograms<const T extends readonly string[]>(...names: T): { [K in keyof T]: string } | undefined {
  if (systemToolsIgnored()) return undefined;
  const paths = names.map(findOnPath);
  return paths.every((path) => path !== undefined) ? (paths as { [K in keyof T]: string }) : undefined;
}

/** The first executable called `name` in a directory of $PATH, as a shell would find it. */
function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** Runs `provide` once per process and shares its answer; a failure is not kept, so the next call tries again. */
export function onceUntilFailure<T>(provide: (log?: Log) => Promise<T>): (log?: Log) => Promise<T> {
  let pending: Promise<T> | undefined;
  return (log) => {
    pending ??= provide(log).catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}
