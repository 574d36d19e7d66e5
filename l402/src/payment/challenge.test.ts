import { describe, expect, it } from "vitest";
import { WORKED_REQUEST, WORKED_REQUEST_TEXT } from "../test-support/payment-examples.js";
import { bindChallengeId, isBoundChallenge } from "./binding.js";
import {
  buildPaymentChallenge,
  formatPaymentChallenge,
  type PaymentChallenge,
  parseExpires,
  parsePaymentChallenges,
} from "./challenge.js";

const secret = Buffer.from("demo-secret", "utf8");
const worked = {
  realm: "api.example.test",
  method: "lightning",
  intent: "charge",
  request: WORKED_REQUEST_TEXT,
  expires: "2030-01-01T00:15:00Z",
};
/** The id of payment-scheme.md §2's example, also computed with `openssl dgst -sha256 -hmac demo-secret`. */
const WORKED_ID = "-Y5xFpfxXnj3-W46NriB6v8InqymbkJt17s0lHteXFc";

describe("challenge id binding", () => {
  it("is the draft's 7-slot HMAC of the worked example", () => {
    expect(bindChallengeId(secret, worked)).toBe(WORKED_ID);
  });

  it("changes with any bound slot, and an empty slot differs from a moved one", () => {
    const changed: PaymentChallenge[] = [
      { ...worked, id: WORKED_ID, realm: "other" },
      { ...worked, id: WORKED_ID, method: "lightnin" },
      { ...worked, id: WORKED_ID, intent: "session" },
      { ...worked, id: WORKED_ID, request: `${WORKED_REQUEST_TEXT}A` },
      { ...worked, id: WORKED_ID, expires: "2030-01-01T00:15:01Z" },
      { ...worked, id: WORKED_ID, digest: "sha-256=:AAAA:" },
      { ...worked, id: WORKED_ID, opaque: "e30" },
    ];
    expect(isBoundChallenge(secret, { ...worked, id: WORKED_ID })).toBe(true);
    for (const challenge of changed) expect(isBoundChallenge(secret, challenge)).toBe(false);
    const { expires: _, ...noExpires } = worked;
    expect(bindChallengeId(secret, { ...noExpires, digest: worked.expires })).not.toBe(WORKED_ID);
    expect(isBoundChallenge(secret, { ...worked, id: WORKED_ID, description: "anything" } as PaymentChallenge)).toBe(
      true,
    );
  });

  it("accepts an id made with a retired secret while it is listed, and refuses a short id", () => {
    expect(isBoundChallenge([Buffer.from("new"), secret], { ...worked, id: WORKED_ID })).toBe(true);
    expect(isBoundChallenge([Buffer.from("new")], { ...worked, id: WORKED_ID })).toBe(false);
    expect(isBoundChallenge(secret, { ...worked, id: WORKED_ID.slice(1) })).toBe(false);
  });
});

describe("buildPaymentChallenge / formatPaymentChallenge", () => {
  it("builds the worked example and writes it in Aperture's order, all quoted", () => {
    const challenge = buildPaymentChallenge({
      secret,
      realm: worked.realm,
      method: "lightning",
      intent: "charge",
      request: WORKED_REQUEST,
      expires: new Date("2030-01-01T00:15:00.000Z"),
      description: 'say "hi" \\ ok',
    });
    expect(challenge).toMatchObject({ ...worked, id: WORKED_ID });
    expect(formatPaymentChallenge(challenge)).toBe(
      `Payment id="${WORKED_ID}", realm="api.example.test", method="lightning", intent="charge", ` +
        `request="${WORKED_REQUEST_TEXT}", expires="2030-01-01T00:15:00Z", description="say \\"hi\\" \\\\ ok"`,
    );
    expect(parsePaymentChallenges(formatPaymentChallenge(challenge))).toEqual([challenge]);
  });

  it("writes a horizontal tab in a quoted-string (RFC 9110 qdtext), and reads it back", () => {
    const challenge = { ...worked, id: WORKED_ID, description: "col 1\tcol 2" };
    const header = formatPaymentChallenge(challenge);
    expect(header).toContain('description="col 1\tcol 2"');
    expect(parsePaymentChallenges(header)).toEqual([challenge]);
    expect(() => formatPaymentChallenge({ ...worked, id: WORKED_ID, description: "a\u007fb" })).toThrow(RangeError);
    expect(() => formatPaymentChallenge({ ...worked, id: WORKED_ID, description: "a\u0000b" })).toThrow(RangeError);
  });

  it("refuses control characters and a method outside the grammar", () => {
    expect(() => formatPaymentChallenge({ ...worked, id: WORKED_ID, description: "a\r\nX: y" })).toThrow(RangeError);
    expect(() =>
      buildPaymentChallenge({ ...worked, expires: undefined, secret, method: "Lightning", request: {} }),
    ).toThrow(RangeError);
  });
});

describe("parsePaymentChallenges (auth-param grammar)", () => {
  const line = `Payment id="${WORKED_ID}", realm="api.example.test", method="lightning", intent="charge", request="${WORKED_REQUEST_TEXT}", expires="2030-01-01T00:15:00Z"`;
  const expected = { ...worked, id: WORKED_ID };

  it("reads a folded list with other schemes, token68 and L402 before it, as fetch joins them", () => {
    const joined = `LSAT macaroon="AgE=", invoice="lnbc1", Negotiate YWJj==, Basic realm="x", L402 macaroon="AgE=", invoice="lnbc1", ${line}, Payment id="s", realm="r", method="lightning", intent="session", request="e30"`;
    const found = parsePaymentChallenges(joined);
    expect(found).toEqual([expected, { id: "s", realm: "r", method: "lightning", intent: "session", request: "e30" }]);
  });

  it("takes the scheme and parameter names in any case, BWS around =, tokens, quoted-pairs, unknown params", () => {
    const header = `pAyMeNt ID = "${WORKED_ID}" ,Realm=api.example.test, METHOD= lightning, intent ="charge", x-new="a\\"b", request=${WORKED_REQUEST_TEXT}, expires="2030-01-01T00:15:00Z"`;
    expect(parsePaymentChallenges(header)).toEqual([expected]);
    expect(
      parsePaymentChallenges(`Payment id="a\\bc", realm="r", method="lightning", intent="charge", request="e30"`)[0]
        ?.id,
    ).toBe("abc");
  });

  it("keeps the first of a repeated parameter", () => {
    expect(parsePaymentChallenges(`${line}, realm="evil"`)).toEqual([expected]);
  });

  it("skips malformed Payment challenges without failing the set, separate values too", () => {
    const missingId = `Payment realm="r", method="lightning", intent="charge", request="e30"`;
    const emptyId = `Payment id="", realm="r", method="lightning", intent="charge", request="e30"`;
    const badMethod = `Payment id="x", realm="r", method="Lightning", intent="charge", request="e30"`;
    const badRequest = `Payment id="x", realm="r", method="lightning", intent="charge", request="e3+0"`;
    expect(
      parsePaymentChallenges([missingId, emptyId, badMethod, badRequest, 'Payment id="unterminated', line]),
    ).toEqual([expected]);
    expect(parsePaymentChallenges(`${missingId}, ${line}`)).toEqual([expected]);
    expect(parsePaymentChallenges("")).toEqual([]);
  });
});

describe("parseExpires", () => {
  it("reads RFC 3339 with fractions and offsets, and nothing else", () => {
    expect(parseExpires("2030-01-01T00:15:00Z")?.toISOString()).toBe("2030-01-01T00:15:00.000Z");
    expect(parseExpires("2030-01-01T00:15:00.000Z")?.toISOString()).toBe("2030-01-01T00:15:00.000Z");
    expect(parseExpires("2030-01-01T01:15:00+01:00")?.toISOString()).toBe("2030-01-01T00:15:00.000Z");
    for (const bad of ["2030-01-01", "1893456900", "2030-13-01T00:00:00Z", "2030-01-01T00:15:00"]) {
      expect(parseExpires(bad), bad).toBeUndefined();
    }
  });
});
