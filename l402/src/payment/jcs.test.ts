import { describe, expect, it } from "vitest";
import { WORKED_REQUEST, WORKED_REQUEST_TEXT } from "../test-support/payment-examples.js";
import { decodeBase64Url, encodeBase64Url } from "./base64url.js";
import { PaymentError } from "./errors.js";
import { canonicalJson } from "./jcs.js";

describe("canonicalJson (RFC 8785)", () => {
  it("gives the draft's worked request byte for byte, whatever the key order", () => {
    expect(encodeBase64Url(canonicalJson(WORKED_REQUEST))).toBe(WORKED_REQUEST_TEXT);
  });

  it("sorts keys by UTF-16 code units, not code points or UTF-8 bytes", () => {
    // U+1F600 is the surrogate pair D83D DE00, which sorts before U+FB01 (ﬁ) in UTF-16 but after it by code point.
    expect(canonicalJson({ "\u{fb01}": 1, "\u{1f600}": 2, a: 3, B: 4 })).toBe(
      '{"B":4,"a":3,"\u{1f600}":2,"\u{fb01}":1}',
    );
  });

  it("writes no whitespace and escapes only quote, backslash and C0 controls, with the short forms", () => {
    expect(canonicalJson({ a: [1, { b: "x" }], c: null, d: true })).toBe('{"a":[1,{"b":"x"}],"c":null,"d":true}');
    expect(canonicalJson('"\\\b\f\n\r\t\u0001\u001f')).toBe('"\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f"');
    expect(canonicalJson("<>&\u2028\u2029\u007f é")).toBe('"<>&\u2028\u2029\u007f é"');
  });

  it("writes numbers in ECMAScript form", () => {
    expect(canonicalJson([1e-7, -0, 1e21, 123.45, 5e-324, 1e300, 0.1 + 0.2])).toBe(
      "[1e-7,0,1e+21,123.45,5e-324,1e+300,0.30000000000000004]",
    );
  });

  it("refuses what JSON cannot hold", () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(RangeError);
    expect(() => canonicalJson({ a: Number.POSITIVE_INFINITY })).toThrow(RangeError);
    expect(() => canonicalJson("\ud800")).toThrow(RangeError);
    expect(() => canonicalJson(undefined)).toThrow(RangeError);
  });
});

describe("base64url", () => {
  it("encodes without padding and decodes padded or not", () => {
    expect(encodeBase64Url(Buffer.from([0xfb, 0xff]))).toBe("-_8");
    expect(decodeBase64Url("-_8")).toEqual(Buffer.from([0xfb, 0xff]));
    expect(decodeBase64Url("-_8=")).toEqual(Buffer.from([0xfb, 0xff]));
    expect(decodeBase64Url("YQ==")).toEqual(Buffer.from("a"));
    expect(decodeBase64Url("")).toEqual(Buffer.alloc(0));
  });

  it("refuses foreign characters, the standard alphabet, bad padding, impossible lengths and non-zero trailing bits", () => {
    for (const bad of ["+/8", "a b", "YQ=", "YQ===", "Y", "YR", "YQ=a", "-_9", "é"]) {
      expect(() => decodeBase64Url(bad), bad).toThrow(PaymentError);
    }
  });
});
