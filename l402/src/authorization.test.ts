import { describe, expect, it } from "vitest";
import { formatAuthorization, MAX_AUTHORIZATION_HEADER_LENGTH, parseAuthorization } from "./authorization.js";
import { codeOf } from "./test-support/code-of.js";

const macaroon = "AgEEbHNhdAJCAAAC1Emj+/x=";
const second = "AgELdGhpcmQtcGFydHk";
const preimageHex = "0123456789abcdef".repeat(4);
const preimage = Buffer.from(preimageHex, "hex");

describe("parseAuthorization", () => {
  it("reads the header exactly as Aperture's and lnget's client write it, LSAT then L402", () => {
    const values = [`LSAT ${macaroon}:${preimageHex}`, `L402 ${macaroon}:${preimageHex}`];
    const aperture = /(LSAT|L402) (.*?):([a-f0-9]{64})/;
    for (const value of values) expect(aperture.exec(value)?.slice(2)).toEqual([macaroon, preimageHex]);
    const credential = parseAuthorization(values);
    expect(credential.scheme).toBe("L402");
    expect(credential.macaroons).toEqual([macaroon]);
    expect(credential.preimage.equals(preimage)).toBe(true);
    expect(parseAuthorization(values[0] ?? "").scheme).toBe("LSAT");
  });

  it("accepts any scheme case, uppercase hex and surrounding whitespace", () => {
    const credential = parseAuthorization(`  l402 \t${macaroon}:${preimageHex.toUpperCase()} `);
    expect(credential).toEqual({ scheme: "L402", macaroons: [macaroon], preimage });
    expect(parseAuthorization(`Lsat ${macaroon}:${preimageHex}`).scheme).toBe("LSAT");
  });

  it("reads several macaroons", () => {
    expect(parseAuthorization(`L402 ${macaroon},${second}:${preimageHex}`).macaroons).toEqual([macaroon, second]);
    expect(parseAuthorization(`L402 ${macaroon}, ${second}:${preimageHex}`).macaroons).toEqual([macaroon, second]);
  });

  it("round-trips with formatAuthorization", () => {
    const header = formatAuthorization({ macaroons: [macaroon, second], preimage });
    expect(header).toBe(`L402 ${macaroon},${second}:${preimageHex}`);
    expect(parseAuthorization(header)).toEqual({ scheme: "L402", macaroons: [macaroon, second], preimage });
    expect(formatAuthorization({ macaroon, preimage, scheme: "LSAT" })).toBe(`LSAT ${macaroon}:${preimageHex}`);
    expect(() => formatAuthorization({ macaroons: [], preimage })).toThrow(RangeError);
    expect(() => formatAuthorization({ macaroon, preimage: Buffer.alloc(31) })).toThrow(RangeError);
  });

  it("says missing when there is no L402 credential", () => {
    expect(codeOf(() => parseAuthorization(""))).toBe("missing");
    expect(codeOf(() => parseAuthorization([]))).toBe("missing");
    expect(codeOf(() => parseAuthorization("Bearer abc.def"))).toBe("missing");
    expect(codeOf(() => parseAuthorization("Basic dXNlcjpwYXNz"))).toBe("missing");
  });

  it("refuses malformed credentials with typed errors", () => {
    const bad = [
      `L402 ${macaroon}`,
      `L402 ${macaroon}:${preimageHex.slice(1)}`,
      `L402 ${macaroon}:${preimageHex}0`,
      `L402 ${macaroon}:${"g".repeat(64)}`,
      `L402 :${preimageHex}`,
      `L402 ${macaroon},:${preimageHex}`,
      `L402 ${macaroon}!:${preimageHex}`,
      `L402 ${macaroon} ${second}:${preimageHex}`,
      "L402",
      `L402 ${macaroon}:${preimageHex}\r\nX-Injected: 1`,
      `L402 ${macaroon}\n:${preimageHex}`,
    ];
    for (const value of bad)
      expect(
        codeOf(() => parseAuthorization(value)),
        value,
      ).toBe("malformed");
  });

  it("refuses an oversized header before parsing it", () => {
    const atLimit = `L402 ${"A".repeat(MAX_AUTHORIZATION_HEADER_LENGTH - 70)}:${preimageHex}`;
    expect(atLimit.length).toBeLessThanOrEqual(MAX_AUTHORIZATION_HEADER_LENGTH);
    expect(parseAuthorization(atLimit).macaroons[0]?.length).toBe(MAX_AUTHORIZATION_HEADER_LENGTH - 70);
    const over = `L402 ${"A".repeat(MAX_AUTHORIZATION_HEADER_LENGTH)}:${preimageHex}`;
    expect(codeOf(() => parseAuthorization(over))).toBe("malformed");
  });

  it("refuses several values that carry different credentials", () => {
    const other = "f".repeat(64);
    expect(codeOf(() => parseAuthorization([`LSAT ${macaroon}:${preimageHex}`, `L402 ${macaroon}:${other}`]))).toBe(
      "malformed",
    );
    expect(codeOf(() => parseAuthorization([`L402 ${second}:${preimageHex}`, `L402 ${macaroon}:${preimageHex}`]))).toBe(
      "malformed",
    );
    expect(parseAuthorization(["Bearer x", `L402 ${macaroon}:${preimageHex}`]).macaroons).toEqual([macaroon]);
    expect(codeOf(() => parseAuthorization(["garbage\u0000", `L402 ${macaroon}:${preimageHex}`]))).toBe("malformed");
  });

  it("never lets anything but an L402Error escape", () => {
    expect(codeOf(() => parseAuthorization(42 as unknown as string))).toBe("malformed");
    expect(codeOf(() => parseAuthorization([null] as unknown as string[]))).toBe("malformed");
  });
});
