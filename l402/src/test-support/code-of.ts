import { L402Error } from "../errors.js";

/** The L402Error code `fn` throws, undefined when it returns, or a note naming anything else it threw. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof L402Error ? error.code : `not an L402Error: ${String(error)}`;
  }
  return undefined;
}
