import { describe, expect, it } from "vitest";
import { L402ClientError, type PriceQuote } from "../errors.js";
import { settle } from "./result.js";

const quote: PriceQuote = {
  origin: "https://api.example",
  service: "llm",
  amountSats: 50,
  maxFeeSats: 10,
  paymentHash: "ab".repeat(32),
  invoice: "lnbcrt500n1...",
  expiresAt: "2026-01-01T00:00:00.000Z",
};

describe("tool results: what a framework hands the model", () => {
  it("a success is the handler's data with ok: true", async () => {
    expect(await settle(async () => ({ status: 200 }))).toEqual({ ok: true, status: 200 });
  });

  it.each([
    ["over_cap", "price 50 sats + up to 10 sats fee is above the cap of 20 sats per payment"],
    ["budget_exceeded", "paying 60 sats would take the total budget past 55 sats"],
    ["payment_pending", "a payment to https://api.example is still in flight"],
  ] as const)(
    "a refusal before paying (%s) is its code, message and the price, nothing else",
    async (code, message) => {
      const result = await settle(async () => {
        throw new L402ClientError(code, message, { quote });
      });
      expect(result).toEqual({ ok: false, code, message, price_sats: 50 });
    },
  );

  it("a refusal after paying (payment_refused by the server) says what was paid", async () => {
    const result = await settle(async () => {
      throw new L402ClientError("payment_refused", "the server answered 402 again after being paid", { quote });
    });
    expect(result).toEqual({
      ok: false,
      code: "payment_refused",
      message: "the server answered 402 again after being paid",
      paid: { amount_sats: 50, payment_hash: quote.paymentHash, scheme: "l402", origin: quote.origin },
    });
  });

  it("any other failure is code error with its message, never a stack or a throw", async () => {
    const result = await settle(async () => {
      throw new TypeError("fetch failed");
    });
    expect(result).toEqual({ ok: false, code: "error", message: "fetch failed" });
    expect(JSON.stringify(result)).not.toContain("at ");
  });
});
