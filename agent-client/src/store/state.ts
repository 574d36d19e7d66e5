import { z } from "zod";

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const sats = z.number().int().nonnegative();
const isoDate = z.iso.datetime({ offset: true });

/** The scheme to answer with: the challenge's, so that an LSAT-only server (old Aperture) gets LSAT back. */
const schemeSchema = z.enum(["L402", "LSAT"]);

export const storedTokenSchema = z.object({
  /** scheme://host[:port] the token was bought from. */
  origin: z.string(),
  /** Service key of the macaroon: sorted names from its `services=` caveat, comma-joined; "" for none. */
  service: z.string(),
  macaroon: z.string(),
  scheme: schemeSchema,
  preimage: hex64,
  paymentHash: hex64,
  /** Unix seconds from the macaroon's valid_until caveat; null when it has none. */
  validUntil: z.number().int().nullable(),
  createdAt: isoDate,
  lastUsedAt: isoDate,
});
export type StoredToken = z.infer<typeof storedTokenSchema>;

/** Which service answered for a path scope of an origin (see `pathScope`): how the client picks a token. */
export const routeHintSchema = z.object({ origin: z.string(), scope: z.string(), service: z.string() });
export type RouteHint = z.infer<typeof routeHintSchema>;

export const receiptStatusSchema = z.enum(["pending", "succeeded", "failed"]);
export type ReceiptStatus = z.infer<typeof receiptStatusSchema>;

/**
 * One payment, written as `pending` before the wallet is asked to pay, then settled to `succeeded` or `failed`.
 * A pending receipt keeps what is needed to finish the purchase after a crash: the macaroon (the preimage comes
 * from the wallet) and the owner process, so another process does not mistake a live payment for an abandoned one.
 */
export const receiptSchema = z.object({
  paymentHash: hex64,
  origin: z.string(),
  service: z.string(),
  amountSats: sats,
  /** The routing fee actually paid; null while pending or when failed. */
  feeSats: sats.nullable(),
  maxFeeSats: sats,
  status: receiptStatusSchema,
  invoice: z.string(),
  macaroon: z.string(),
  scheme: schemeSchema,
  createdAt: isoDate,
  settledAt: isoDate.nullable(),
  error: z.string().nullable(),
  owner: z.object({ pid: z.number().int(), hostname: z.string() }),
});
export type Receipt = z.infer<typeof receiptSchema>;

export const budgetLimitsSchema = z
  .object({
    hourlySats: sats.optional(),
    dailySats: sats.optional(),
    totalSats: sats.optional(),
    perOriginSats: sats.optional(),
  })
  .strict();
export type BudgetLimits = z.infer<typeof budgetLimitsSchema>;

/**
 * An origin that answered 402 to a token it had just been paid for, in the same call: it is not paid again until
 * the caller allows it (`allowRefusedOrigins`, CLI `--allow-refused`). One per origin, the latest.
 */
export const refusalSchema = z.object({
  origin: z.string(),
  service: z.string(),
  paymentHash: hex64,
  at: isoDate,
});
export type Refusal = z.infer<typeof refusalSchema>;

export const clientStateSchema = z.object({
  version: z.literal(1),
  tokens: z.array(storedTokenSchema),
  routes: z.array(routeHintSchema),
  receipts: z.array(receiptSchema),
  /** Limits saved with `l402 budget set`; the library applies only the limits it is given. */
  budgetLimits: budgetLimitsSchema,
  /** Absent in stores written before refusals were recorded. */
  refusals: z.array(refusalSchema).default([]),
});
export type ClientState = z.infer<typeof clientStateSchema>;

export function emptyState(): ClientState {
  return { version: 1, tokens: [], routes: [], receipts: [], budgetLimits: {}, refusals: [] };
}
