import { describe, expect, it } from "vitest";
import { encodeBase64Url } from "./base64url.js";
import { PaymentError } from "./errors.js";
import { canonicalExactJson, parseExactJson } from "./exact-json.js";
import { formatPaymentReceipt, INT64_MAX, parseExactPaymentReceipt, parsePaymentReceipt } from "./receipt.js";
import { formatSessionNeedTopUp, parseSessionNeedTopUp } from "./session-events.js";

const TWO_53 = 2n ** 53n;
const closeFields = {
  status: "success",
  method: "lightning",
  timestamp: "2030-01-01T00:00:00Z",
  reference: "ab".repeat(32),
};

function typeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof PaymentError ? error.type : (error as Error).name;
  }
  return undefined;
}

describe("exact JSON integers", () => {
  it("reads integers beyond 2^53 as bigints, leaves the rest (and look-alikes inside strings) alone", () => {
    expect(
      parseExactJson(
        '{"a": 9223372036854775807, "b": [1, -9007199254740993, 2.5, 1e30], "c": "123456789012345678901"}',
      ),
    ).toEqual({
      a: INT64_MAX,
      b: [1, -(TWO_53 + 1n), 2.5, 1e30],
      c: "123456789012345678901",
    });
    expect(parseExactJson('{"s": "a\\"9007199254740993"}')).toEqual({ s: 'a"9007199254740993' });
  });

  it("writes bigints as plain digits in canonical order", () => {
    expect(canonicalExactJson({ z: INT64_MAX, a: 1, m: "x" })).toBe('{"a":1,"m":"x","z":9223372036854775807}');
  });
});

describe("Payment-Receipt refundSats beyond 2^53", () => {
  it("reads and writes every value up to the int64 maximum exactly", () => {
    for (const refundSats of [TWO_53 + 1n, 2n ** 62n + 12_345n, INT64_MAX]) {
      const header = formatPaymentReceipt({ ...closeFields, status: "success", refundSats, refundStatus: "failed" });
      expect(Buffer.from(header, "base64url").toString()).toContain(`"refundSats":${refundSats}`);
      expect(parseExactPaymentReceipt(header)).toEqual({ ...closeFields, refundSats, refundStatus: "failed" });
    }
  });

  it("reads an Aperture receipt (struct order, a Go int64) exactly", () => {
    const aperture = `{"method":"lightning","reference":"${"ab".repeat(32)}","status":"success","timestamp":"2030-01-01T00:00:00Z","refundSats":9223372036854775807,"refundStatus":"failed"}`;
    expect(parseExactPaymentReceipt(encodeBase64Url(aperture)).refundSats).toBe(INT64_MAX);
  });

  it("keeps small refunds as numbers for number readers, and refuses what a number cannot hold", () => {
    const small = formatPaymentReceipt({
      ...closeFields,
      status: "success",
      refundSats: 21,
      refundStatus: "succeeded",
    });
    expect(parsePaymentReceipt(small).refundSats).toBe(21);
    expect(parseExactPaymentReceipt(small).refundSats).toBe(21n);
    const huge = formatPaymentReceipt({ ...closeFields, status: "success", refundSats: TWO_53 + 1n });
    expect(typeOf(() => parsePaymentReceipt(huge))).toBe("malformed-credential");
  });

  it("refuses a refund beyond the int64 maximum or negative, reading and writing", () => {
    const over = `{"method":"lightning","reference":"r","status":"success","timestamp":"t","refundSats":9223372036854775808}`;
    expect(typeOf(() => parseExactPaymentReceipt(encodeBase64Url(over)))).toBe("malformed-credential");
    expect(typeOf(() => formatPaymentReceipt({ ...closeFields, status: "success", refundSats: INT64_MAX + 1n }))).toBe(
      "RangeError",
    );
    expect(typeOf(() => formatPaymentReceipt({ ...closeFields, status: "success", refundSats: -1n }))).toBe(
      "RangeError",
    );
  });
});

describe("session need-top-up data", () => {
  it("writes and reads {sessionId, balanceSpent, balanceRequired} exactly, beyond 2^53 too", () => {
    const data = { sessionId: "sess-1", balanceSpent: INT64_MAX - 1n, balanceRequired: TWO_53 + 3n };
    const text = formatSessionNeedTopUp(data);
    expect(text).toBe('{"balanceRequired":9007199254740995,"balanceSpent":9223372036854775806,"sessionId":"sess-1"}');
    expect(parseSessionNeedTopUp(text)).toEqual(data);
    expect(parseSessionNeedTopUp('{"sessionId":"s","balanceSpent":10,"balanceRequired":2,"extra":true}')).toEqual({
      sessionId: "s",
      balanceSpent: 10n,
      balanceRequired: 2n,
    });
  });

  it("refuses another shape with a PaymentError, and values beyond int64 when writing", () => {
    for (const text of [
      '{"sessionId":"s","balanceSpent":1}',
      '{"sessionId":"","balanceSpent":1,"balanceRequired":1}',
      '{"sessionId":"s","balanceSpent":-1,"balanceRequired":1}',
      '{"sessionId":"s","balanceSpent":1.5,"balanceRequired":1}',
      "[]",
      "{",
    ]) {
      expect(typeOf(() => parseSessionNeedTopUp(text))).toBe("malformed-credential");
    }
    expect(
      typeOf(() => formatSessionNeedTopUp({ sessionId: "s", balanceSpent: INT64_MAX + 1n, balanceRequired: 1n })),
    ).toBe("RangeError");
  });
});

describe("the stream payment-receipt event", () => {
  it("formats canonically and reads back exactly, int64 values included", async () => {
    const { formatStreamPaymentReceipt, parseStreamPaymentReceipt } = await import("./session-events.js");
    const receipt = {
      status: "success" as const,
      method: "lightning",
      timestamp: "2026-12-06T12:00:00Z",
      reference: "ab".repeat(32),
      spent: 2n ** 63n - 1n,
      units: 2n ** 53n + 1n,
    };
    const text = formatStreamPaymentReceipt(receipt);
    expect(text).toBe(
      `{"method":"lightning","reference":"${"ab".repeat(32)}","spent":9223372036854775807,"status":"success",` +
        `"timestamp":"2026-12-06T12:00:00Z","units":9007199254740993}`,
    );
    expect(parseStreamPaymentReceipt(text)).toEqual(receipt);
    expect(() => parseStreamPaymentReceipt('{"status":"success","method":"lightning"}')).toThrow(/required field/);
    expect(() => formatStreamPaymentReceipt({ ...receipt, spent: 2n ** 63n })).toThrow(RangeError);
  });
});
