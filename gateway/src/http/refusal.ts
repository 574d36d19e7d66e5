import type { ServerResponse } from "node:http";
import { sendJsonError } from "./errors.js";
import type { Outcome } from "./outcome.js";

/**
 * A request the gateway answers itself with an error: the HTTP status, a stable `code`, a message for people and
 * any extra headers (`Retry-After`). Stages return or throw what went wrong in their own words; the maps in
 * refusals/answers.ts turn it into a Refusal, and sendRefusal is the only way one is written.
 */
export interface Refusal {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** `Retry-After` for a refusal that clears by itself in `seconds`. */
export const retryAfter = (seconds: number): Record<string, string> => ({ "retry-after": String(seconds) });

/** A request body over the gateway's limit, however it was found out (declared, read or streamed). */
export const bodyTooLarge = (message: string): Refusal => ({ status: 413, code: "body_too_large", message });

/** A request line no configured service takes. */
export const notRouted = (method: string | undefined, path: string): Refusal => ({
  status: 404,
  code: "not_found",
  message: `no service is configured for ${method} ${path}`,
});

/** Writes `refusal` as JSON `{ code, message }` (see sendJsonError) and returns what the request log records. */
export function sendRefusal(res: ServerResponse, refusal: Refusal): Required<Outcome> {
  sendJsonError(res, refusal.status, refusal.code, refusal.message, refusal.headers);
  return { status: refusal.status, code: refusal.code };
}
