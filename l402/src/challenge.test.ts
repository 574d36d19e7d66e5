import { describe, expect, it } from "vitest";
import { parseAuthChallenges } from "./auth-params.js";
import { formatChallenge, MAX_CHALLENGE_HEADER_LENGTH, parseChallenge } from "./challenge.js";
import { codeOf } from "./test-support/code-of.js";

const macaroon = "AgEEbHNhdAJCAAAC1Emj+/x=";
const invoice = "lnbcrt10u1pjq8x7zpp5";

describe("formatChallenge", () => {
  it("writes Aperture's two values, LSAT first, macaroon= and invoice= first, then version and token", () => {
    const rest = `version="0", token="${macaroon}"`;
    expect(formatChallenge({ macaroonBase64: macaroon, invoice })).toEqual([
      `LSAT macaroon="${macaroon}", invoice="${invoice}", ${rest}`,
      `L402 macaroon="${macaroon}", invoice="${invoice}", ${rest}`,
    ]);
  });

  it("matches Aperture's client regex and Alby's key=value reader, also joined as fetch joins them", () => {
    const aperture = /(LSAT|L402) macaroon="(.*?)", invoice="(.*?)"/;
    const values = formatChallenge({ macaroonBase64: macaroon, invoice });
    for (const value of values) expect(aperture.exec(value)?.slice(2)).toEqual([macaroon, invoice]);
    // Alby's parseL402: strips the first L402/LSAT, reads every key=value, later keys win, token= before macaroon=.
    const alby: Record<string, string> = {};
    for (const match of values
      .join(", ")
      .replace("L402", "")
      .replace("LSAT", "")
      .matchAll(/(\w+)=("([^"]*)"|'([^']*)'|([^,]*))/g)) {
      alby[match[1] ?? ""] = match[3] ?? match[4] ?? match[5] ?? "";
    }
    expect(alby.token ?? alby.macaroon).toBe(macaroon);
    expect(alby.invoice).toBe(invoice);
  });

  it("parses back through the spec's grammar with version 0", () => {
    for (const value of formatChallenge({ macaroonBase64: macaroon, invoice })) {
      expect(parseChallenge(value)).toMatchObject({ macaroon, invoice, version: "0" });
    }
  });

  it("matches lnget's challenge regex", () => {
    const lnget = /(LSAT|L402)\s+macaroon="([^"]+)",\s*invoice="([^"]+)"/i;
    for (const value of formatChallenge({ macaroonBase64: macaroon, invoice })) {
      expect(lnget.exec(value)?.slice(2)).toEqual([macaroon, invoice]);
    }
  });

  it("refuses values that cannot stand in a quoted string", () => {
    expect(() => formatChallenge({ macaroonBase64: 'a"b', invoice })).toThrow(RangeError);
    expect(() => formatChallenge({ macaroonBase64: macaroon, invoice: 'ln"bc' })).toThrow(RangeError);
    expect(() => formatChallenge({ macaroonBase64: macaroon, invoice: "lnbc\r\nX-Evil: 1" })).toThrow(RangeError);
  });
});

describe("parseChallenge", () => {
  it("reads Aperture's values, separately or joined as fetch joins them, preferring L402", () => {
    const values = formatChallenge({ macaroonBase64: macaroon, invoice });
    expect(parseChallenge(values)).toEqual({ scheme: "L402", macaroon, invoice, version: "0" });
    expect(parseChallenge(values.join(", "))).toEqual({ scheme: "L402", macaroon, invoice, version: "0" });
    expect(parseChallenge(values[0])).toEqual({ scheme: "LSAT", macaroon, invoice, version: "0" });
  });

  it("accepts the spec's token= and version=, any order, unknown params, bare values and any case", () => {
    expect(parseChallenge(`L402 version="0", token="${macaroon}", invoice="${invoice}"`)).toEqual({
      scheme: "L402",
      macaroon,
      invoice,
      version: "0",
    });
    expect(parseChallenge(`l402 invoice=${invoice},realm="api" ,  macaroon="${macaroon}"`)).toEqual({
      scheme: "L402",
      macaroon,
      invoice,
    });
    expect(parseChallenge(`lsat MACAROON = "${macaroon}" , Invoice="${invoice}"`).scheme).toBe("LSAT");
  });

  it("finds the L402 challenge among others", () => {
    const header = `Bearer realm="x", Negotiate abc==, Basic, L402 macaroon="${macaroon}", invoice="${invoice}"`;
    expect(parseChallenge(header)).toEqual({ scheme: "L402", macaroon, invoice });
    expect(parseChallenge(["Basic realm=x", `LSAT macaroon="${macaroon}", invoice="${invoice}"`]).scheme).toBe("LSAT");
  });

  it("falls back to LSAT when the L402 challenge is unusable", () => {
    const header = `L402 invoice="${invoice}", LSAT macaroon="${macaroon}", invoice="${invoice}"`;
    expect(parseChallenge(header).scheme).toBe("LSAT");
  });

  it("keeps the first value of a repeated parameter, as Aperture does", () => {
    expect(parseChallenge(`L402 macaroon="${macaroon}", invoice="${invoice}", invoice="x"`).invoice).toBe(invoice);
  });

  it("unescapes quoted-pairs", () => {
    expect(parseAuthChallenges('X a="q\\"uote\\\\d"')[0]?.params.get("a")).toBe('q"uote\\d');
  });

  it("says missing when there is no L402 challenge, malformed when one is unusable", () => {
    expect(codeOf(() => parseChallenge(""))).toBe("missing");
    expect(codeOf(() => parseChallenge([]))).toBe("missing");
    expect(codeOf(() => parseChallenge('Bearer realm="api"'))).toBe("missing");
    expect(codeOf(() => parseChallenge(`L402 invoice="${invoice}"`))).toBe("malformed");
    expect(codeOf(() => parseChallenge(`L402 macaroon="${macaroon}"`))).toBe("malformed");
    expect(codeOf(() => parseChallenge(`L402 macaroon="not base64!", invoice="${invoice}"`))).toBe("malformed");
    expect(codeOf(() => parseChallenge(`L402 macaroon="${macaroon}", token="QUJD", invoice="${invoice}"`))).toBe(
      "malformed",
    );
    expect(codeOf(() => parseChallenge(`L402 macaroon="${macaroon}, invoice="${invoice}`))).toBe("malformed");
    expect(codeOf(() => parseChallenge("L402 macaroon"))).toBe("malformed");
    expect(codeOf(() => parseChallenge(`L402 macaroon="x${"A".repeat(MAX_CHALLENGE_HEADER_LENGTH)}"`))).toBe(
      "malformed",
    );
  });
});
