import { z } from "zod";
import type { RefundLedger } from "../store/ledger.js";

/** A closed account's refund, as the console shows it. */
export const refundSchema = z.object({
  amountMsat: z.number(),
  status: z.string(),
  feeMsat: z.number().optional(),
  error: z.string().optional(),
  updatedAt: z.date().optional(),
});

export type RefundView = z.infer<typeof refundSchema>;

/**
 * A token's refund when the store keeps refunds (`getRefund`); undefined when it has none or the store has no refunds
 * at all, so the console shows refunds only where they exist.
 */
export async function refundOf(
  store: Partial<Pick<RefundLedger, "getRefund">>,
  tokenId: string,
): Promise<RefundView | undefined> {
  if (store.getRefund === undefined) return undefined;
  const parsed = refundSchema.safeParse(await store.getRefund(tokenId));
  return parsed.success ? parsed.data : undefined;
}

/** Msat refunded out of a token's account, where the store's accounts carry it. */
export function refundedMsatOf(account: object): number | undefined {
  const value: unknown = Reflect.get(account, "refundedMsat");
  return typeof value === "number" ? value : undefined;
}
