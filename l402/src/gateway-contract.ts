import { z } from "zod";

/**
 * This project's gateway endpoints beyond the L402 and Payment schemes themselves, as the gateway serves them and
 * the agent client calls them: one definition for both sides.
 */

/** The public price manifest. */
export const MANIFEST_PATH = "/.well-known/l402.json";
/** `POST /l402/quote?method=…&target=…`: the exact price of one request, before any invoice exists. */
export const QUOTE_PATH = "/l402/quote";
/** `GET /l402/balance` with the credential itself: what a prepaid token has left. */
export const BALANCE_PATH = "/l402/balance";
/** `POST /l402/close` with the token and `{ "invoice": "<bolt11>" }`: closes a prepaid token and refunds its balance. */
export const CLOSE_PATH = "/l402/close";

/** What a metered call cost, in msat. */
export const COST_HEADER = "x-l402-cost-msat";
/** What a prepaid token has left after the call, in msat. */
export const BALANCE_HEADER = "x-l402-balance-msat";
/** What is reserved on a prepaid token by calls in progress, in msat. */
export const RESERVED_HEADER = "x-l402-reserved-msat";
/** How much a new metered token should be funded with, in msat (the agent's choice within the operator's bounds). */
export const DEPOSIT_HEADER = "x-l402-deposit-msat";

/** The quote endpoint's answer. */
export const quoteReplySchema = z.object({
  service: z.string().nullable(),
  kind: z.enum(["free", "fixed", "metered"]),
  invoice_sats: z.number().int().nonnegative(),
  price_sats: z.number().int().positive().optional(),
  reserve_msat: z.number().int().positive().optional(),
  quote: z.record(z.string(), z.unknown()).optional(),
});
export type QuoteReply = z.infer<typeof quoteReplySchema>;

/** The balance endpoint's answer. */
export const balanceReplySchema = z.object({
  metered: z.boolean(),
  balance_msat: z.number().int(),
  reserved_msat: z.number().int(),
  credited_msat: z.number().int(),
  charged_msat: z.number().int(),
  requests: z.number().int(),
  valid_until: z.string(),
});
export type BalanceReply = z.infer<typeof balanceReplySchema>;

/** The close endpoint's answer. */
export const closeReplySchema = z.object({
  token_id: z.string(),
  refund: z.object({ amount_msat: z.number().int().nonnegative(), status: z.string() }),
});
export type CloseReply = z.infer<typeof closeReplySchema>;

/** An error answer of these endpoints. */
export const errorReplySchema = z.object({ code: z.string(), message: z.string() });
