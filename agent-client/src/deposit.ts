import { z } from "zod";
import type { Offer } from "./offers.js";

export { DEPOSIT_HEADER } from "@l402-gateway/l402";

/**
 * How a metered credential (an L402 prepaid token or a Payment session) is funded when it is bought or topped up:
 * enough for `calls` calls at the price the 402 quotes, exactly `sats`, or `false` for what the gateway asks by
 * itself (one call's reservation). Bounded by the cap per payment and the budgets left, and never below what the
 * gateway asks. Unspent balance comes back by closing the credential (`close`, `l402 close`).
 */
export type DepositPolicy = false | { readonly calls: number } | { readonly sats: number };

/**
 * Five calls at the quoted price. The quoted price is a call's worst case (the whole `max_tokens` at the completion
 * rate), and a call is charged what it used, so five worst cases usually fund many more calls; five keeps the
 * money left on a gateway small, and the default cap (1000 sats) and hourly budget (2000 sats) bound it anyway.
 */
export const DEFAULT_DEPOSIT: DepositPolicy = Object.freeze({ calls: 5 });

export const depositPolicySchema = z.union([
  z.literal(false),
  z.object({ calls: z.number().int().positive().max(1000) }).strict(),
  z
    .object({
      sats: z
        .number()
        .int()
        .positive()
        .max(Number.MAX_SAFE_INTEGER / 1000),
    })
    .strict(),
]);

/** What a 402 for a metered credential says: a call's price at most, and what its invoice asks, in msat. */
export interface MeteredPrice {
  readonly priceMsat: number;
  readonly offeredMsat: number;
  /** The 402 answers a credential whose balance ran out (`insufficient_balance`): paying it tops the balance up. */
  readonly topUp: boolean;
  /** What the credential had left, when the gateway says. */
  readonly balanceMsat?: number;
}

/** The JSON body of this project's gateway's metered 402 (other servers' bodies simply do not match). */
const meteredBodySchema = z.object({
  code: z.string().optional(),
  price_msat: z.number().int().positive(),
  deposit_msat: z.number().int().nonnegative(),
  balance_msat: z.number().int().optional(),
});

/**
 * The metered price a 402 carries, for an L402 token or a Payment session alike: the JSON body of a gateway that
 * takes X-L402-Deposit-Msat (this project's: `price_msat`, `deposit_msat`). Undefined for a fixed price, a charge,
 * or a server that does not say (Aperture sizes a session deposit itself: asking it would only cost a round trip).
 * The body only sizes what is asked for; what is paid is the invoice, under the same caps and budgets.
 */
export function meteredPriceOf(body: unknown, offers: readonly Offer[]): MeteredPrice | undefined {
  const parsed = meteredBodySchema.safeParse(body);
  if (!parsed.success || !offers.some((offer) => offer.kind === "l402" || offer.kind === "session")) return undefined;
  const { code, price_msat, deposit_msat, balance_msat } = parsed.data;
  return {
    priceMsat: price_msat,
    offeredMsat: deposit_msat,
    topUp: code === "insufficient_balance",
    ...(balance_msat === undefined ? {} : { balanceMsat: balance_msat }),
  };
}

/**
 * The deposit to ask for (msat, whole sats: the gateway rounds an invoice up to sats), or undefined when the offer
 * already asks as much: what `policy` wants at `price`, at most `headroomSats` (what the cap and budgets still
 * allow for one payment's amount).
 */
export function depositToAsk(policy: DepositPolicy, price: MeteredPrice, headroomSats: number): number | undefined {
  if (policy === false) return undefined;
  const wantedMsat = "sats" in policy ? policy.sats * 1000 : policy.calls * price.priceMsat;
  const wantedSats = Math.min(Math.ceil(wantedMsat / 1000), Math.max(0, Math.floor(headroomSats)));
  const msat = wantedSats * 1000;
  return msat > price.offeredMsat ? msat : undefined;
}
