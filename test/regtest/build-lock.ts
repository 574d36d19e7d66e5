import { link, open, readFile, rename, rm } from "node:fs/promises";
import { isAlive } from "./proc-scan.js";

type Log = (line: string) => void;

export interface BuildOnceOptions {
  /** The lock file, next to what is built (e.g. `<binary>.lock`). */
  readonly lockPath: string;
  /** What is being built, for the messages ("lnd v0.19.2"). */
  readonly what: string;
  /** Whether the product is already there (checked before building and after every wait). */
  readonly isBuilt: () => Promise<boolean>;
  /** Makes the product; called by one process at a time. */
  readonly build: () => Promise<void>;
  readonly log: Log;
  /** How often a waiter looks at the lock again (the holder may die without a word). */
  readonly pollMs?: number;
}

/** Who built the product: this caller, or another run it waited for (or that had built it before). */
export type BuildOutcome = "built" | "reused";

/**
 * Builds something into a shared cache once, however many runs ask for it at the same time: the first takes an
 * exclusive lock file holding its pid and builds; the others say that they wait, and for whom, and then reuse what it
 * built. The lock of a process that has died (killed mid-build) is taken over.
 */
export async function buildOnce(options: BuildOnceOptions): Promise<BuildOutcome> {
  const { lockPath, what, isBuilt, build, log } = options;
  const pollMs = options.pollMs ?? 1_000;
  let announcedHolder: number | undefined;
  for (;;) {
    if (await isBuilt()) return "reused";
    if (await tryLock(lockPath)) {
      try {
        // Another run may have finished between the check above and taking the lock.
        if (await isBuilt()) return "reused";
        await build();
        return "built";
      } finally {
        await rm(lockPath, { force: true });
      }
    }
    const holder = await lockHolder(lockPath);
    if (holder === undefined) {
      await pause(Math.min(pollMs, 50)); // released, or its holder is writing its pid: look again
      continue;
    }
    if (!isAlive(holder)) {
      if (await takeOverStale(lockPath, holder)) {
        log(`the lock on ${what} was held by pid ${holder}, which has exited; taking it over`);
      }
      continue;
    }
    if (announcedHolder !== holder) {
      log(`waiting for pid ${holder}, which is building ${what} into the shared cache (lock ${lockPath})`);
      announcedHolder = holder;
    }
    await pause(pollMs);
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Creates the lock file with this process's pid, or answers false when it exists. */
async function tryLock(lockPath: string): Promise<boolean> {
  try {
    const handle = await open(lockPath, "wx");
    try {
      await handle.writeFile(`${process.pid}\n`);
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

async function lockHolder(lockPath: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(lockPath, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Removes a dead holder's lock without removing a live one that replaced it meanwhile: the lock is moved aside
 * (atomically), and put back if what was moved is not the dead holder's.
 */
async function takeOverStale(lockPath: string, deadPid: number): Promise<boolean> {
  const aside = `${lockPath}.stale-${process.pid}-${Date.now()}`;
  try {
    await rename(lockPath, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
  try {
    if ((await lockHolder(aside)) === deadPid) return true;
    // A live run's lock: put it back unless a third run has locked meanwhile (then that one builds).
    await link(aside, lockPath).catch(() => undefined);
    return false;
  } finally {
    await rm(aside, { force: true });
  }
}
