import { describe, expect, it } from "vitest";
import type { TokenRecord, TokenStore } from "../store/store.js";
import { refundOf } from "./refunds.js";
import { renderToken } from "./tokens-page.js";

const token: TokenRecord = {
  tokenId: "a".repeat(64),
  rootKeyId: "b".repeat(64),
  paymentHash: "c".repeat(64),
  service: "llm",
  priceSats: 10,
  invoice: "lnbcrt1",
  status: "revoked",
  createdAt: new Date(0),
  invoiceExpiresAt: new Date(0),
  validUntil: new Date(0),
  metered: true,
  account: { balanceMsat: 0, reservedMsat: 0, creditedMsat: 10_000, chargedMsat: 4_000, refundedMsat: 0, requests: 2 },
  scheme: "l402",
};

describe("refunds in the console, only where the store has them", () => {
  it("shows nothing of refunds for a store without them", async () => {
    const store = {} as TokenStore;
    expect(await refundOf(store, token.tokenId)).toBeUndefined();
    const { refundedMsat: _, ...account } = token.account;
    const page = renderToken({ ...token, account } as TokenRecord, { charges: [], refund: undefined }, "csrf").text;
    expect(page).not.toContain("Refund");
  });

  it("shows a token's refund and refunded amount when the store keeps them", async () => {
    const refund = {
      tokenId: token.tokenId,
      amountMsat: 6_000,
      status: "succeeded",
      feeMsat: 0,
      updatedAt: new Date(),
    };
    const store = {
      getRefund: async (id: string) => (id === token.tokenId ? refund : undefined),
    } as unknown as TokenStore;
    const view = await refundOf(store, token.tokenId);
    expect(view).toMatchObject({ amountMsat: 6_000, status: "succeeded" });
    expect(await refundOf(store, "d".repeat(64))).toBeUndefined();
    const closed = { ...token, account: { ...token.account, refundedMsat: 6_000 } };
    const page = renderToken(closed, { charges: [], refund: view }, "csrf").text;
    expect(page).toContain('data-figure="refunded">6,000<');
    expect(page).toContain('data-figure="refund">6,000 msat, succeeded<');
  });
});
