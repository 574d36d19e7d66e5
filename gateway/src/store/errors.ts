import { CodedError } from "@l402-gateway/l402";
import Database from "better-sqlite3";

/** The database cannot be reached or did not answer in time: the request gets 503 `store_unavailable`. */
export class StoreUnavailableError extends CodedError<"store_unavailable"> {
  override readonly name = "StoreUnavailableError";

  constructor(message: string, options?: ErrorOptions) {
    super("store_unavailable", message, options);
  }
}

/** Network errors and PostgreSQL SQLSTATEs that mean "the database is not there", not "this statement is wrong". */
const UNAVAILABLE_NODE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "EPIPE",
]);
const UNAVAILABLE_SQLSTATES = new Set(["57P01", "57P02", "57P03", "53300", "57014"]);
const UNAVAILABLE_MESSAGES = [
  /timeout exceeded when trying to connect/i,
  /connection terminated/i,
  /Connection terminated unexpectedly/i,
  /Client has encountered a connection error/i,
  /Cannot use a pool after calling end/i,
];

export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as Error & { code?: unknown }).code;
  if (typeof code === "string") {
    if (UNAVAILABLE_NODE_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code)) return true;
    // Class 08: connection exceptions.
    if (/^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  return UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(error.message));
}

/**
 * Failures of the store itself (database unreachable, disk full or read-only, I/O, lock timeouts), as opposed to bugs
 * in a caller: the request is refused with 503 and nothing is recorded.
 */
export function isStoreFailure(error: unknown): boolean {
  return error instanceof StoreUnavailableError || error instanceof Database.SqliteError;
}
