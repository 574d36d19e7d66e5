import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";
import { acquireFileLock } from "./file-lock.js";
import { SerialQueue } from "./serial-queue.js";
import { type ClientState, clientStateSchema, emptyState } from "./state.js";
import type { ClientStore } from "./store.js";

/** Owner-only: the file holds preimages, which are bearer credentials. */
const FILE_MODE = 0o600;
const DIRECTORY_MODE = 0o700;

export class StoreFileError extends Error {
  override readonly name = "StoreFileError";
}

/**
 * A JSON file, replaced atomically on every update (write a temp file, fsync, rename, fsync the directory), created
 * with mode 0600 in a directory created with mode 0700. Updates hold `<file>.lock` (see `acquireFileLock`) so that several
 * processes on one machine (an agent and the `l402` CLI) can share it; each update re-reads the file under the lock.
 * A file that does not parse is an error, never silently reset: that would reset budgets.
 */
export class FileStore implements ClientStore {
  readonly #queue = new SerialQueue();

  constructor(readonly path: string) {}

  async read(): Promise<ClientState> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if (isNotFound(error)) return emptyState();
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new StoreFileError(`${this.path} is not JSON; fix or move it away`, { cause: error });
    }
    const parsed = clientStateSchema.safeParse(json);
    if (!parsed.success) {
      throw new StoreFileError(`${this.path} is not an l402 client store: ${z.prettifyError(parsed.error)}`);
    }
    return parsed.data;
  }

  update<T>(mutate: (state: ClientState) => T): Promise<T> {
    return this.#queue.run(async () => {
      await mkdir(dirname(this.path), { recursive: true, mode: DIRECTORY_MODE });
      const release = await acquireFileLock(`${this.path}.lock`);
      try {
        const state = await this.read();
        const result = mutate(state);
        await this.#write(clientStateSchema.parse(state));
        return result;
      } finally {
        await release();
      }
    });
  }

  async #write(state: ClientState): Promise<void> {
    const temp = `${this.path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    const file = await open(temp, "wx", FILE_MODE);
    try {
      await file.writeFile(`${JSON.stringify(state, null, 2)}\n`);
      // The umask may have narrowed the mode further, never widened it; chmod makes it exact.
      await file.chmod(FILE_MODE);
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      await rename(temp, this.path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    await syncDirectory(dirname(this.path));
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}
