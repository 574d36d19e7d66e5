import { describe, expect, it } from "vitest";
import { L402ClientError } from "./errors.js";
import { decodeInvoice } from "./invoice.js";
import { makeInvoice } from "./test-support/invoices.js";

describe("decodeInvoice", () => {
  it("reads amount, hash and expiry of a signed invoice", () => {
    const made = makeInvoice({ amountSats: 21, expiresInSeconds: 300 });
    const decoded = decodeInvoice(made.invoice, new Date());
    expect(decoded.amountSats).toBe(21);
    expect(decoded.amountMsat).toBe(21_000n);
    expect(decoded.paymentHash).toBe(made.paymentHash);
    expect(decoded.network).toBe("regtest");
    expect(decoded.expiresAt.getTime()).toBeGreaterThan(Date.now());
  });

  it("refuses an expired invoice", () => {
    const made = makeInvoice({ amountSats: 5, expiresInSeconds: 60, createdAt: new Date(Date.now() - 120_000) });
    expect(() => decodeInvoice(made.invoice, new Date())).toThrow(expect.objectContaining({ code: "invoice_expired" }));
  });

  it("refuses garbage and a tampered invoice", () => {
    expect(() => decodeInvoice("lnbcrt1garbage", new Date())).toThrow(L402ClientError);
    const made = makeInvoice({ amountSats: 5 });
    const tampered = `${made.invoice.slice(0, 20)}${made.invoice[20] === "q" ? "p" : "q"}${made.invoice.slice(21)}`;
    expect(() => decodeInvoice(tampered, new Date())).toThrow(expect.objectContaining({ code: "invalid_invoice" }));
  });
});
