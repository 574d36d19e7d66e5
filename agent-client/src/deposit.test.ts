import { describe, expect, it } from "vitest";
import { DEFAULT_DEPOSIT, depositPolicySchema, depositToAsk, type MeteredPrice, meteredPriceOf } from "./deposit.js";
import type { Offer } from "./offers.js";

const l402Offer = { kind: "l402" } as Offer;
const sessionOffer = (amount: string, depositAmount?: string) =>
  ({ kind: "session", request: { amount, ...(depositAmount === undefined ? {} : { depositAmount }) } }) as Offer;

describe("meteredPriceOf", () => {
  it("reads the gateway's metered 402 body for its L402 offer, and tells a top-up apart", () => {
    expect(meteredPriceOf({ code: "missing", price_msat: 12_345, deposit_msat: 13_000 }, [l402Offer])).toEqual({
      priceMsat: 12_345,
      offeredMsat: 13_000,
      topUp: false,
    });
    expect(
      meteredPriceOf({ code: "insufficient_balance", price_msat: 12_345, deposit_msat: 5_000, balance_msat: 7_345 }, [
        l402Offer,
      ]),
    ).toEqual({ priceMsat: 12_345, offeredMsat: 5_000, topUp: true, balanceMsat: 7_345 });
  });

  it("reads the same body beside a Payment session offer; a session offer alone (Aperture) says nothing", () => {
    expect(meteredPriceOf({ price_msat: 2_000, deposit_msat: 2_000 }, [sessionOffer("2", "2")])).toEqual({
      priceMsat: 2_000,
      offeredMsat: 2_000,
      topUp: false,
    });
    expect(meteredPriceOf(undefined, [sessionOffer("3", "12")])).toBeUndefined();
  });

  it("is undefined for a fixed price, a charge, or a body of another server", () => {
    expect(meteredPriceOf({ code: "missing", price_sats: 50 }, [l402Offer])).toBeUndefined();
    expect(meteredPriceOf(undefined, [l402Offer])).toBeUndefined();
    expect(meteredPriceOf("not json", [sessionOffer("5")])).toBeUndefined();
    // A body that looks metered with no offer it could size is not a metered 402.
    expect(meteredPriceOf({ price_msat: 1_000, deposit_msat: 1_000 }, [])).toBeUndefined();
  });
});

describe("depositToAsk", () => {
  const price: MeteredPrice = { priceMsat: 12_345, offeredMsat: 13_000, topUp: false };

  it("asks for n calls at the quoted price, rounded up to whole sats", () => {
    expect(depositToAsk({ calls: 5 }, price, 1_000)).toBe(62_000);
    expect(depositToAsk(DEFAULT_DEPOSIT, price, 1_000)).toBe(62_000);
  });

  it("asks for a fixed amount in sats", () => {
    expect(depositToAsk({ sats: 100 }, price, 1_000)).toBe(100_000);
  });

  it("stays within the headroom the cap and budgets leave, whole sats", () => {
    expect(depositToAsk({ calls: 5 }, price, 40.7)).toBe(40_000);
    expect(depositToAsk({ sats: 100 }, price, -3)).toBeUndefined();
  });

  it("asks nothing more when the 402 already asks as much, or the policy is off", () => {
    expect(depositToAsk({ calls: 1 }, price, 1_000)).toBeUndefined();
    expect(depositToAsk({ sats: 13 }, price, 1_000)).toBeUndefined();
    expect(depositToAsk({ calls: 5 }, price, 13)).toBeUndefined();
    expect(depositToAsk(false, price, 1_000)).toBeUndefined();
  });

  it("accepts only whole positive policies", () => {
    expect(depositPolicySchema.safeParse({ calls: 0 }).success).toBe(false);
    expect(depositPolicySchema.safeParse({ calls: 2.5 }).success).toBe(false);
    expect(depositPolicySchema.safeParse({ sats: 10, calls: 2 }).success).toBe(false);
    expect(depositPolicySchema.parse(false)).toBe(false);
  });
});
