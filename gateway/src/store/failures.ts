import Database from "better-sqlite3";

/** Errors of the store itself (disk full or read-only, I/O, lock timeouts), as opposed to bugs in a caller. */
export function isStoreFailure(error: unknown): boolean {
  return error instanceof Database.SqliteError;
}
