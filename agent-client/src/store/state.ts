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
 * What a payment bought: an L402 token, a single-use Payment `charge` credential, a Payment `session` deposit, or a
 * session top-up. Stores written before Payment support hold only L402 payments.
 */
export const paidSchemeSchema = z.enum(["l402", "charge", "session", "topUp"]);
export type PaidScheme = z.infer<typeof paidSchemeSchema>;

/** The unspent balance a server paid back when a session or a prepaid token was closed. */
export const refundSchema = z.object({
  /** What the server said it would pay back (its receipt); null when it did not say. */
  announcedSats: sats.nullable(),
  /**
   * The announced amount in decimal digits when it is beyond 2^53 (a receipt's int64 `refundSats`, read exactly);
   * `announcedSats` is then null. No real refund is that large: it marks a server's claim to look at.
   */
  announcedSatsExact: z
    .string()
    .regex(/^[0-9]+$/)
    .optional(),
  /** Sats the wallet actually received on the return invoice; null until seen. */
  receivedSats: sats.nullable(),
  /** `succeeded` once the wallet saw the return invoice paid; `skipped` when nothing was left to refund. */
  status: z.enum(["pending", "succeeded", "failed", "skipped"]),
  returnInvoice: z.string(),
  closedAt: isoDate,
});
export type Refund = z.infer<typeof refundSchema>;
/** A Payment `challenge` as received: every value kept byte for byte, to be echoed unchanged. */
export const echoedChallengeSchema = z.object({
  id: z.string(),
  realm: z.string(),
  method: z.string(),
  intent: z.string(),
  request: z.string(),
  expires: z.string().optional(),
  digest: z.string().optional(),
  description: z.string().optional(),
  opaque: z.string().optional(),
});

/** What a session deposit's receipt keeps so that a crash between paying and storing the session loses nothing. */
export const pendingSessionSchema = z.object({
  returnInvoice: z.string(),
  challenge: echoedChallengeSchema,
  url: z.string(),
  unitSats: sats,
});
export type PendingSession = z.infer<typeof pendingSessionSchema>;

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
  /** The L402 macaroon bought; "" for Payment-scheme payments. */
  macaroon: z.string(),
  scheme: schemeSchema,
  paid: paidSchemeSchema.default("l402"),
  /** A session deposit: the session to store once paid (the preimage comes from the wallet). */
  session: pendingSessionSchema.optional(),
  /** Payment sessions and prepaid tokens: the refund collected when it was closed. */
  refund: refundSchema.optional(),
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
 * An origin that took a payment and did not serve the call it paid for: it answered 402 to the credential it had
 * just been paid for (`refused`: an L402 token, a charge, a session deposit or a top-up, also after acknowledging a
 * top-up), or never answered the paid request (`unserved`: connection reset, no response headers, a 5xx). It is not
 * paid again until the cool-off after `at` has passed or the owner allows it (`allowRefusedOrigins`,
 * `clearRefusals`, CLI `--allow-refused` or `l402 refusals clear`). One per origin, the latest.
 */
export const refusalSchema = z.object({
  origin: z.string(),
  service: z.string(),
  paymentHash: hex64,
  at: isoDate,
  /** Stores written before unserved payments were recorded hold only refusals. */
  reason: z.enum(["refused", "unserved"]).default("refused"),
  /** What the payment bought; absent in older stores (L402). */
  paid: paidSchemeSchema.optional(),
});
export type Refusal = z.infer<typeof refusalSchema>;

/**
 * A prepaid Payment `session` (method lightning): the deposit's preimage is the bearer secret, the return invoice
 * gets the unspent balance on close, and the latest session challenge is what bearer requests echo.
 */
export const storedSessionSchema = z.object({
  origin: z.string(),
  /** The deposit's payment hash. */
  sessionId: hex64,
  preimage: hex64,
  /** Amountless invoice of the agent's wallet that the server pays the refund to. */
  returnInvoice: z.string(),
  challenge: echoedChallengeSchema,
  /** Where the session was opened: a close is sent there. */
  url: z.string(),
  /** Price of one unit, as the latest challenge says. */
  unitSats: sats,
  /** Deposit plus top-ups paid. */
  paidSats: sats,
  /** False until a request with the `open` action was answered: until then the next request opens it. */
  opened: z.boolean(),
  status: z.enum(["open", "closed"]),
  createdAt: isoDate,
  lastUsedAt: isoDate,
});
export type StoredSession = z.infer<typeof storedSessionSchema>;

export const clientStateSchema = z.object({
  version: z.literal(1),
  tokens: z.array(storedTokenSchema),
  routes: z.array(routeHintSchema),
  receipts: z.array(receiptSchema),
  /** Limits saved with `l402 budget set`; the library applies only the limits it is given. */
  budgetLimits: budgetLimitsSchema,
  /** Absent in stores written before refusals were recorded. */
  refusals: z.array(refusalSchema).default([]),
  /** Absent in stores written before Payment sessions. */
  sessions: z.array(storedSessionSchema).default([]),
});
export type ClientState = z.infer<typeof clientStateSchema>;

export function emptyState(): ClientState {
  return { version: 1, tokens: [], routes: [], receipts: [], budgetLimits: {}, refusals: [], sessions: [] };
}
