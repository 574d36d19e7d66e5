/// <reference path="./types/invoices.d.ts" />
import { type DecodedBolt11, decodedBolt11Schema } from "@l402-gateway/l402";
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
  /**
   * Blocks the receiver's side of the route can keep a payment locked: the final CLTV delta plus the longest sum of
   * CLTV deltas over the invoice's route hints. Public hops before them add their own.
   */
  readonly lockBlocks: number;
}

/** BOLT 11: an invoice without a final CLTV delta means 18 blocks. */
const DEFAULT_FINAL_CLTV_DELTA = 18;

/**
 * Decodes a BOLT11 invoice with the `invoices` package (which also checks its signature) and refuses the ones no
 * agent should pay: undecodable, without an amount, or already expired at `now`.
 */
export function decodeInvoice(invoice: string, now: Date): DecodedInvoice {
  let parsed: DecodedBolt11;
  try {
    parsed = decodedBolt11Schema.parse(invoices.parsePaymentRequest({ request: invoice }));
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
  const hintBlocks = (parsed.routes ?? []).map((route) => route.reduce((sum, hop) => sum + (hop.cltv_delta ?? 0), 0));
  const lockBlocks = (parsed.cltv_delta ?? DEFAULT_FINAL_CLTV_DELTA) + Math.max(0, ...hintBlocks);
  return { invoice, amountSats, amountMsat, paymentHash: parsed.id, expiresAt, network: parsed.network, lockBlocks };
}

/** The payment hash of any BOLT11 invoice, amountless and expired ones included (a refund's return invoice). */
export function invoicePaymentHash(invoice: string): string {
  return z.object({ id: z.string().regex(/^[0-9a-f]{64}$/) }).parse(invoices.parsePaymentRequest({ request: invoice }))
    .id;
}

/** When any BOLT11 invoice expires; undefined if it cannot be read. */
export function invoiceExpiresAt(invoice: string): Date | undefined {
  let parsed: unknown;
  try {
    parsed = invoices.parsePaymentRequest({ request: invoice });
  } catch {
    return undefined;
  }
  const read = z.object({ expires_at: z.iso.datetime() }).safeParse(parsed);
  return read.success ? new Date(read.data.expires_at) : undefined;
}
