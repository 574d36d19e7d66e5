import { createHash, randomBytes } from "node:crypto";
import { link, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { threadId } from "node:worker_threads";
import { z } from "zod";
import { isProcessAlive } from "../process-alive.js";

/** A lock whose owner is on another host (so cannot be checked) is taken over once it is older than this. */
const FOREIGN_STALE_MS = 30_000;
const RETRY_MS = 15;

const ownerSchema = z.object({
  pid: z.number().int().positive(),
  thread: z.number().int().nonnegative(),
  hostname: z.string(),
  nonce: z.string(),
});
type LockOwner = z.infer<typeof ownerSchema>;

/** Nonces of the locks this thread holds: a lock naming this pid and thread but none of these is a dead predecessor's. */
const HELD = new Set<string>();

/**
 * An exclusive lock file shared by processes and threads on one machine. The lock file appears whole (a hard link
 * to a file already written) and names its owner: pid, thread, host and a random nonce.
 *
 * A lock whose owner is dead is taken over atomically: the taker first holds `<lock>.takeover-<digest of the dead
 * lock's content>` (itself such a lock, so a taker that dies is taken over in turn), re-reads the lock under it, and
 * only if it still is the dead owner's lock replaces it with its own in one rename. Two processes that both saw the
 * dead lock thus cannot both take it, and neither can remove the other's new lock. Release removes the lock only if
 * it is still the owner's.
 */
export async function acquireFileLock(path: string): Promise<() => Promise<void>> {
  const owner: LockOwner = { pid: process.pid, thread: threadId, hostname: hostname(), nonce: randomHex() };
  const content = JSON.stringify(owner);
  // Marked held before the lock file can exist: another store in this thread must never see it as a dead one's.
  HELD.add(owner.nonce);
  try {
    for (;;) {
      if (await placeLock(path, content, "create")) break;
      const seen = await readLock(path);
      if (seen === undefined) continue;
      if (!isStale(seen)) {
        await sleep(RETRY_MS + Math.random() * RETRY_MS);
        continue;
      }
      if (await takeOver(path, seen.raw, content)) break;
    }
  } catch (error) {
    HELD.delete(owner.nonce);
    throw error;
  }
  return async () => {
    const current = await readLock(path);
    if (current?.raw === content) await rm(path, { force: true });
    HELD.delete(owner.nonce);
  };
}

/** Replaces the dead lock whose content was `deadContent` with ours, unless someone else already did. */
async function takeOver(path: string, deadContent: string, content: string): Promise<boolean> {
  const digest = createHash("sha256").update(deadContent).digest("hex").slice(0, 16);
  const releaseGuard = await acquireFileLock(`${path}.takeover-${digest}`);
  try {
    const current = await readLock(path);
    // Only the dead owner (which will not act) or the holder of this guard can change a lock with this content.
    if (current?.raw !== deadContent) return false;
    return await placeLock(path, content, "replace");
  } finally {
    await releaseGuard();
  }
}

/** Writes `content` to a temporary file, then links it as the lock (fails if one exists) or renames it over it. */
async function placeLock(path: string, content: string, how: "create" | "replace"): Promise<boolean> {
  const temp = `${path}.${randomHex()}.tmp`;
  await writeFile(temp, content, { mode: 0o600, flag: "wx" });
  try {
    if (how === "replace") {
      await rename(temp, path);
      return true;
    }
    await link(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    await rm(temp, { force: true });
  }
}

async function readLock(path: string): Promise<{ raw: string; ageMs: number } | undefined> {
  try {
    const [raw, stats] = await Promise.all([readFile(path, "utf8"), stat(path)]);
    return { raw, ageMs: Date.now() - stats.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

function isStale(lock: { raw: string; ageMs: number }): boolean {
  const owner = parseOwner(lock.raw);
  if (owner === undefined || owner.hostname !== hostname()) return lock.ageMs > FOREIGN_STALE_MS;
  if (owner.pid === process.pid) return owner.thread === threadId && !HELD.has(owner.nonce);
  return !isProcessAlive(owner.pid);
}

/** Our JSON owner, or a bare pid (what earlier versions wrote); undefined for anything else. */
function parseOwner(raw: string): LockOwner | undefined {
  if (/^[1-9][0-9]*$/.test(raw.trim())) {
    // Never held by this thread (no nonce): with our own pid it is a dead predecessor's.
    return { pid: Number(raw.trim()), thread: threadId, hostname: hostname(), nonce: "" };
  }
  try {
    const parsed = ownerSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function randomHex(): string {
  return randomBytes(8).toString("hex");
}
