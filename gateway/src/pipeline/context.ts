import type { CanonicalTarget } from "../http/canonical-target.js";
import type { RouteMatch } from "../http/routing.js";
import { NO_PAYMENT, type PaymentStep } from "../payment/stage.js";
import type { AuthResult } from "../tokens/authenticator.js";

/**
 * One request's state as it passes the stages, made once at the edge: each stage reads what the ones before it
 * found, and adds its own. Nothing about a request travels any other way (the request's `url` and the response's
 * headers are never read back).
 */
export interface RequestContext {
  readonly requestId: string;
  /** The route stage's canonical target: routed, priced and forwarded as it is. */
  target: CanonicalTarget | undefined;
  /** The target sent upstream: the canonical path and query. */
  upstreamPath: string;
  /** The route stage's service match. */
  match: RouteMatch | undefined;
  /** The authenticate stage's verdict on the request's credential. */
  credential: AuthResult | undefined;
  /** The Payment scheme's part: a charge claimed, the receipt of a 2xx, or the refusal a 402 carries. */
  payment: PaymentStep;
}

export function newRequestContext(requestId: string): RequestContext {
  return {
    requestId,
    target: undefined,
    upstreamPath: "/",
    match: undefined,
    credential: undefined,
    payment: NO_PAYMENT,
  };
}
