import { formatPaymentReceipt, INT64_MAX, PAYMENT_RECEIPT_HEADER } from "@l402-gateway/l402";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../store/memory.js";
import type { Receipt } from "../store/state.js";
import type { Wallet } from "../wallet/wallet.js";
import { announcedInReceipt, RefundCollector } from "./refunds.js";

const receipt = (refundSats: bigint, refundStatus: "succeeded" | "failed" = "succeeded") =>
  new Headers({
    [PAYMENT_RECEIPT_HEADER]: formatPaymentReceipt({
      status: "success",
      method: "lightning",
      timestamp: "2026-12-06T12:00:00Z",
      reference: "a".repeat(64),
      refundSats,
      refundStatus,
    }),
  });

describe("announcedInReceipt", () => {
  it("reads refundSats exactly, up to the int64 maximum, with its status", () => {
    expect(announcedInReceipt(receipt(1_234n))).toEqual({ sats: 1_234n, status: "succeeded" });
    expect(announcedInReceipt(receipt(2n ** 53n + 1n, "failed"))).toEqual({ sats: 2n ** 53n + 1n, status: "failed" });
    expect(announcedInReceipt(receipt(INT64_MAX))).toEqual({ sats: INT64_MAX, status: "succeeded" });
  });

  it("knows nothing without a readable receipt", () => {
    expect(announcedInReceipt(new Headers())).toEqual({ sats: null, status: null });
    expect(announcedInReceipt(new Headers({ [PAYMENT_RECEIPT_HEADER]: "not base64url json" }))).toEqual({
      sats: null,
      status: null,
    });
  });
});

describe("RefundCollector", () => {
  it("records an announced refund beyond 2^53 in digits rather than rounding it", async () => {
    const store = new MemoryStore();
    const reference = "b".repeat(64);
    await store.update((state) => {
      state.receipts.push({ paymentHash: reference } as Receipt);
    });
    const wallet = { pay: async () => Promise.reject(new Error("unused")) } as unknown as Wallet;
    const collector = new RefundCollector({
      store,
      wallet,
      now: () => new Date(0),
      onEvent: () => {},
      refundWaitMs: 1,
    });
    const huge = 2n ** 53n + 1n;
    const refund = await collector.collect({
      origin: "https://gateway.test",
      reference,
      returnInvoice: "lnbcrt1",
      announced: { sats: huge, status: "succeeded" },
    });
    expect(refund).toMatchObject({ announcedSats: null, announcedSatsExact: "9007199254740993", status: "pending" });
    expect((await store.read()).receipts[0]?.refund?.announcedSatsExact).toBe("9007199254740993");
  });
});
