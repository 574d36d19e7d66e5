import { errorReplySchema, QUOTE_PATH, quoteReplySchema } from "@l402-gateway/l402";
import { L402ClientError } from "./errors.js";
import { type SendOptions, sendFollowing } from "./redirects.js";
import type { ReplayableRequest } from "./request-body.js";

/** The gateway's price discovery endpoints (the wire contract in l402/). */
export { BALANCE_PATH, MANIFEST_PATH, QUOTE_PATH } from "@l402-gateway/l402";

/** What the gateway says one request costs, before any invoice exists. */
export interface GatewayQuote {
  readonly origin: string;
  /** The service's name; null when the operator keeps it private. */
  readonly service: string | null;
  /** Free path; fixed price per credential; or metered (a prepaid balance that each call draws down). */
  readonly kind: "free" | "fixed" | "metered";
  /** What a 402 for a new credential would ask for this request, in sats (0 for a free path). */
  readonly invoiceSats: number;
  /** Metered: what this call reserves from a balance, in msat (its most; usage is charged). */
  readonly reserveMsat: number | null;
  /** Metered: the gateway's breakdown (rates, tokens, fee, minimum, surge multiplier). */
  readonly breakdown: Readonly<Record<string, unknown>> | null;
}

/**
 * Asks the origin's quote endpoint what `request` would cost: the same method, target, headers and body, never a
 * credential. Throws `quote_failed` when the origin has no quote endpoint or cannot price the request.
 */
export async function fetchGatewayQuote(request: ReplayableRequest, options: SendOptions): Promise<GatewayQuote> {
  const { origin, pathname, search } = request.url;
  const url = new URL(QUOTE_PATH, origin);
  url.searchParams.set("method", request.method);
  url.searchParams.set("target", pathname + search);
  const response = await sendFollowing(request.sentAs(url, "POST"), undefined, options);
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (response.status !== 200) {
    const error = errorReplySchema.safeParse(json);
    const why = error.success ? `${error.data.code}: ${error.data.message}` : `HTTP ${response.status}`;
    throw new L402ClientError("quote_failed", `${origin} gave no quote for ${request.method} ${pathname} (${why})`);
  }
  const answer = quoteReplySchema.safeParse(json);
  if (!answer.success) {
    throw new L402ClientError("quote_failed", `${origin} answered the quote with something that is not a quote`);
  }
  const { data } = answer;
  return {
    origin,
    service: data.service,
    kind: data.kind,
    invoiceSats: data.invoice_sats,
    reserveMsat: data.reserve_msat ?? null,
    breakdown: data.quote ?? null,
  };
}
