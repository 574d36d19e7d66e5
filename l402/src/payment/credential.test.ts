import { describe, expect, it } from "vitest";
import { WORKED_REQUEST, WORKED_REQUEST_TEXT } from "../test-support/payment-examples.js";
import { encodeBase64Url } from "./base64url.js";
import {
  decodePaymentCredential,
  formatPaymentAuthorization,
  MAX_PAYMENT_TOKEN_LENGTH,
  type PaymentCredential,
  parsePaymentAuthorization,
} from "./credential.js";
import { PaymentError, type PaymentProblemType } from "./errors.js";
import {
  decodePaymentRequest,
  lightningChargeRequestSchema,
  lightningSessionPayloadSchema,
  parsePaymentPayload,
} from "./lightning.js";
import { paymentProblem } from "./problem.js";
import { formatPaymentReceipt, parsePaymentReceipt } from "./receipt.js";

const challenge = {
  id: "-Y5xFpfxXnj3-W46NriB6v8InqymbkJt17s0lHteXFc",
  realm: "api.example.test",
  method: "lightning",
  intent: "charge",
  request: WORKED_REQUEST_TEXT,
  expires: "2030-01-01T00:15:00Z",
};
const credential: PaymentCredential = { challenge, payload: { preimage: "ab".repeat(32) } };

function typeOf(fn: () => unknown): PaymentProblemType | string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof PaymentError ? error.type : `not a PaymentError: ${String(error)}`;
  }
  return undefined;
}

describe("Payment credentials", () => {
  it("round-trips, with the scheme in any case, padded or not, beside other schemes", () => {
    const header = formatPaymentAuthorization(credential);
    expect(header).toMatch(/^Payment [A-Za-z0-9_-]+$/);
    expect(parsePaymentAuthorization(header)).toEqual(credential);
    const token = header.slice("Payment ".length);
    const padded = token + "=".repeat((4 - (token.length % 4)) % 4);
    expect(parsePaymentAuthorization(["L402 abc:def", `payment  ${padded}`])).toEqual(credential);
    expect(parsePaymentAuthorization(["L402 abc:def", "Bearer x"])).toBeUndefined();
  });

  it("accepts a plain JSON.stringify credential (mppx) with a source and unknown fields", () => {
    const json = JSON.stringify({ challenge, source: "did:key:z6Mk", payload: { preimage: "00".repeat(32) }, x: 1 });
    expect(decodePaymentCredential(encodeBase64Url(json))).toMatchObject({ source: "did:key:z6Mk", challenge });
  });

  it("refuses several Payment credentials, bad base64url, bad JSON, missing fields and oversized tokens", () => {
    const token = formatPaymentAuthorization(credential);
    expect(typeOf(() => parsePaymentAuthorization([token, token]))).toBe("bad-request");
    expect(typeOf(() => parsePaymentAuthorization("Payment"))).toBe("malformed-credential");
    expect(typeOf(() => parsePaymentAuthorization("Payment a+b/"))).toBe("malformed-credential");
    expect(typeOf(() => decodePaymentCredential(encodeBase64Url("{not json")))).toBe("malformed-credential");
    const { id: _, ...noId } = challenge;
    const bad = [
      { challenge: noId, payload: {} },
      { challenge: { ...challenge, realm: "" }, payload: {} },
      { challenge },
    ];
    for (const value of bad) {
      expect(typeOf(() => decodePaymentCredential(encodeBase64Url(JSON.stringify(value))))).toBe(
        "malformed-credential",
      );
    }
    expect(typeOf(() => decodePaymentCredential("A".repeat(MAX_PAYMENT_TOKEN_LENGTH + 4)))).toBe(
      "malformed-credential",
    );
  });

  it("accepts a credential of several KB", () => {
    const big: PaymentCredential = { ...credential, challenge: { ...challenge, description: "d".repeat(6000) } };
    expect(parsePaymentAuthorization(formatPaymentAuthorization(big))).toEqual(big);
  });
});

describe("lightning requests and payloads", () => {
  it("decode the worked request and refuse numbers for amounts", () => {
    expect(decodePaymentRequest(WORKED_REQUEST_TEXT, lightningChargeRequestSchema)).toEqual(WORKED_REQUEST);
    const numeric = encodeBase64Url(JSON.stringify({ ...WORKED_REQUEST, amount: 21 }));
    expect(typeOf(() => decodePaymentRequest(numeric, lightningChargeRequestSchema))).toBe("malformed-credential");
  });

  it("tell session actions apart and refuse bad preimages", () => {
    const sessionId = "c".repeat(64);
    expect(
      parsePaymentPayload(
        { action: "topUp", sessionId, topUpPreimage: "AB".repeat(32) },
        lightningSessionPayloadSchema,
      ),
    ).toEqual({ action: "topUp", sessionId, topUpPreimage: "AB".repeat(32) });
    for (const payload of [
      { action: "bearer", sessionId, preimage: "ab" },
      { action: "bearer", sessionId, preimage: "zz".repeat(32) },
      { action: "refund", sessionId },
      { action: "open", preimage: "ab".repeat(32) },
    ]) {
      expect(typeOf(() => parsePaymentPayload(payload, lightningSessionPayloadSchema))).toBe(
        "lightning/malformed-credential",
      );
    }
  });
});

describe("receipts and problems", () => {
  it("round-trip a receipt, read Aperture's padded or struct-ordered form, and refuse one without status", () => {
    const receipt = {
      status: "success",
      method: "lightning",
      timestamp: "2030-01-01T00:00:00Z",
      reference: "a".repeat(64),
      challengeId: "x",
    } as const;
    expect(parsePaymentReceipt(formatPaymentReceipt(receipt))).toEqual(receipt);
    const aperture = Buffer.from(
      JSON.stringify({
        method: "lightning",
        reference: "r",
        status: "success",
        timestamp: "t",
        refundStatus: "pending",
      }),
    ).toString("base64");
    expect(parsePaymentReceipt(aperture)).toMatchObject({ refundStatus: "failed" });
    const { status: _, ...noStatus } = receipt;
    expect(typeOf(() => parsePaymentReceipt(encodeBase64Url(JSON.stringify(noStatus))))).toBe("malformed-credential");
  });

  it("build RFC 9457 bodies with the right status", () => {
    expect(paymentProblem("payment-required", "pay", "cid")).toEqual({
      type: "https://paymentauth.org/problems/payment-required",
      title: "Payment Required",
      status: 402,
      detail: "pay",
      challengeId: "cid",
    });
    expect(paymentProblem("method-unsupported", "no").status).toBe(400);
  });
});
