import { z } from "zod";
import { decodeBase64Url, encodeBase64Url } from "./base64url.js";
import { asPaymentError, PaymentError } from "./errors.js";
import { canonicalJson } from "./jcs.js";

/** A positive whole number of sats, as a string (amounts never travel as JSON numbers). */
export const satsString = z.string().regex(/^[1-9][0-9]*$/, "a positive whole number of sats as a string");
/** 32 bytes in lowercase hex: payment hashes and session ids. */
export const hash32Hex = z.string().regex(/^[0-9a-f]{64}$/, "64 lowercase hex characters");
/** A preimage: 32 bytes of hex (the draft asks lowercase; like Aperture, either case is accepted). */
export const preimageHex = z.string().regex(/^[0-9a-fA-F]{64}$/, "64 hex characters");

export const LIGHTNING_METHOD = "lightning";

/** `request` of method lightning, intent charge. The invoice is authoritative; the other fields must match it. */
export const lightningChargeRequestSchema = z.object({
  amount: satsString,
  currency: z.literal("sat"),
  description: z.string().optional(),
  recipient: z.string().optional(),
  externalId: z.string().optional(),
  methodDetails: z.object({
    invoice: z.string().min(1),
    paymentHash: hash32Hex.optional(),
    /** mainnet, regtest, signet; Aperture copies other names (testnet, simnet) from its config. */
    network: z
      .string()
      .regex(/^[a-z]+$/)
      .optional(),
  }),
});
export type LightningChargeRequest = z.infer<typeof lightningChargeRequestSchema>;

/** `request` of method lightning, intent session. `amount` is the price of one unit. */
export const lightningSessionRequestSchema = z.object({
  amount: satsString,
  currency: z.literal("sat"),
  description: z.string().optional(),
  unitType: z.string().optional(),
  depositInvoice: z.string().min(1).optional(),
  paymentHash: hash32Hex,
  depositAmount: satsString.optional(),
  idleTimeout: z
    .string()
    .regex(/^[0-9]+$/)
    .optional(),
});
export type LightningSessionRequest = z.infer<typeof lightningSessionRequestSchema>;

export const lightningChargePayloadSchema = z.object({ preimage: preimageHex });
export type LightningChargePayload = z.infer<typeof lightningChargePayloadSchema>;

/** Session payloads, by `action`; `sessionId` is the deposit's payment hash. Unknown fields are ignored. */
export const lightningSessionPayloadSchema = z.discriminatedUnion("action", [
  z.object({ action: z.literal("open"), preimage: preimageHex, returnInvoice: z.string().min(1) }),
  z.object({ action: z.literal("bearer"), sessionId: hash32Hex, preimage: preimageHex }),
  z.object({ action: z.literal("topUp"), sessionId: hash32Hex, topUpPreimage: preimageHex }),
  z.object({ action: z.literal("close"), sessionId: hash32Hex, preimage: preimageHex }),
]);
export type LightningSessionPayload = z.infer<typeof lightningSessionPayloadSchema>;

/** The `request` parameter for an object: unpadded base64url of its JCS form. */
export function encodePaymentRequest(request: object): string {
  return encodeBase64Url(canonicalJson(request));
}

/**
 * Decodes a `request` parameter and checks it against `schema`. Throws PaymentError(`type`), by default
 * `malformed-credential` (a server decoding an echoed request; a client reading a challenge skips the offer).
 */
export function decodePaymentRequest<T>(
  request: string,
  schema: z.ZodType<T>,
  type: "malformed-credential" | "lightning/malformed-credential" = "malformed-credential",
): T {
  return asPaymentError(type, "invalid request", () => {
    const parsed = schema.safeParse(JSON.parse(decodeBase64Url(request).toString("utf8")));
    if (!parsed.success) throw new PaymentError(type, `request: ${parsed.error.issues[0]?.message ?? "invalid"}`);
    return parsed.data;
  });
}

/** Checks a credential's payload against `schema`; PaymentError("lightning/malformed-credential") otherwise. */
export function parsePaymentPayload<T>(payload: unknown, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(payload);
  if (!parsed.success) {
    throw new PaymentError(
      "lightning/malformed-credential",
      `payload: ${parsed.error.issues[0]?.message ?? "invalid"}`,
    );
  }
  return parsed.data;
}
