import type { Outcome } from "../http/outcome.js";
import type { ForwardOutcome } from "../proxy/proxy.js";

export type { Outcome };

export const outcomeOf = (forwarded: ForwardOutcome): Outcome =>
  forwarded.ok ? { status: forwarded.status } : { status: forwarded.status, code: forwarded.code };
