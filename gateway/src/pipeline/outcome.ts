import type { ForwardOutcome } from "../proxy/proxy.js";

/** How one request ended, for the request log and metrics. */
export interface Outcome {
  readonly status: number;
  readonly code?: string;
}

export const outcomeOf = (forwarded: ForwardOutcome): Outcome =>
  forwarded.ok ? { status: forwarded.status } : { status: forwarded.status, code: forwarded.code };
