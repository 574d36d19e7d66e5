/// <reference path="./types/invoices.d.ts" />
import invoices from "invoices";
import { z } from "zod";
import { L402ClientError } from "./errors.js";

export interface DecodedInvoice {
  readonly invoice: string;
  /** Rounded up to whole satoshis: caps and budgets never under-count a fractional amount. */
  readonly amountSats: number;
  readonly amountMsat: bigint;
  readonly paymentHash: string;
  readonly expiresAt: Date;
  readonly network: string;
}

const parsedSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{64}$/),
  expires_at: z.iso.datetime({ offset: true }),
  mtokens: z
    .string()
    .regex(/^[0-9]+$/)
    .optional(),
  network: z.string(),
});

/**
 * Decodes a BOLT11 invoice with the `invoices` package (which also checks its signature) and refuses the ones no
 * agent should pay: undecodable, without an amount, or already expired at `now`.
 */
export function decodeInvoice(invoice: string, now: Date): DecodedInvoice {
  let parsed: z.infer<typeof parsedSchema>;
  try {
    parsed = parsedSchema.parse(invoices.parsePaymentRequest({ request: invoice }));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new L402ClientError(
      "invalid_invoice",
      `the challenge's invoice is not a valid BOLT11 invoice (${reason})`,
      {},
      {
        cause: error,
      },
    );
  }
  const amountMsat = BigInt(parsed.mtokens ?? "0");
  if (amountMsat === 0n) {
    throw new L402ClientError("zero_amount_invoice", "the challenge's invoice has no amount; refusing to choose one", {
      paymentHash: parsed.id,
    });
  }
  const expiresAt = new Date(parsed.expires_at);
  if (expiresAt.getTime() <= now.getTime()) {
    throw new L402ClientError("invoice_expired", `the challenge's invoice expired at ${expiresAt.toISOString()}`, {
      paymentHash: parsed.id,
    });
  }
  const amountSats = Number((amountMsat + 999n) / 1000n);
  return { invoice, amountSats, amountMsat, paymentHash: parsed.id, expiresAt, network: parsed.network };
}
