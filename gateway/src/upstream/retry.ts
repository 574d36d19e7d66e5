/** How one attempt on an upstream ended, as far as the retry policy cares (a ForwardOutcome fits it). */
export type AttemptResult =
  | { readonly ok: true; readonly status: number }
  | { readonly ok: false; readonly code: string };

/** The classes of the upstream-errors metric. */
export type UpstreamErrorClass = "unreachable" | "timeout" | "aborted" | "http_5xx";

/** What went wrong with an attempt, if anything did on the upstream's side (or the client left). */
export function upstreamErrorClass(result: AttemptResult): UpstreamErrorClass | undefined {
  if (!result.ok) {
    if (result.code === "upstream_unreachable") return "unreachable";
    if (result.code === "upstream_timeout") return "timeout";
    if (result.code === "client_closed") return "aborted";
    return undefined;
  }
  return result.status >= 500 ? "http_5xx" : undefined;
}

/** A failure that counts toward ejecting the upstream from its pool, like a failed health check: it never answered. */
export function ejectsUpstream(errorClass: UpstreamErrorClass | undefined): boolean {
  return errorClass === "unreachable" || errorClass === "timeout";
}

/**
 * Whether an attempt may fail without answering the client, so another upstream can be tried: only the first attempt
 * of a request that can be sent again (its body read, or none), in a pool of more than one upstream.
 *
 * @param attempt 1 for the first attempt
 */
export function mayRetryAttempt(attempt: number, replayable: boolean, poolSize: number): boolean {
  return replayable && attempt === 1 && poolSize > 1;
}
