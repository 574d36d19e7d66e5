import { randomBytes } from "node:crypto";
import { mintToken, parseChallenge } from "@l402-gateway/l402";
import { describe, expect, it } from "vitest";
import { serviceSchema } from "../config/schema.js";
import { l402ChallengeLines, MAX_L402_CHALLENGE_BYTES } from "./challenger.js";

const INVOICE = `lnbcrt10n1p${"q".repeat(200)}`;

function service(extra: Record<string, unknown> = {}) {
  return serviceSchema.parse({
    name: "api",
    match: { pathPrefix: "/" },
    upstream: "http://127.0.0.1:1",
    price: { sats: 1 },
    ...extra,
  });
}

function macaroon(caveatBytes: number): string {
  const caveats = caveatBytes === 0 ? [] : [`note=${"x".repeat(caveatBytes)}`];
  return mintToken({ paymentHash: randomBytes(32), caveats }).macaroonBase64;
}

describe("the L402 lines of a 402", () => {
  it("sends LSAT then L402 by default, both readable", () => {
    const lines = l402ChallengeLines(service(), macaroon(0), INVOICE);
    expect(lines.map((line) => line.split(" ")[0])).toEqual(["LSAT", "L402"]);
    expect(parseChallenge(lines.join(", "))).toMatchObject({ scheme: "L402", invoice: INVOICE });
  });

  it("leaves the LSAT line out when the operator says so", () => {
    const lines = l402ChallengeLines(service({ lsatChallenge: false }), macaroon(0), INVOICE);
    expect(lines.map((line) => line.split(" ")[0])).toEqual(["L402"]);
    expect(parseChallenge(lines)).toMatchObject({ scheme: "L402", invoice: INVOICE });
  });

  it("bounds the header a large macaroon makes: the LSAT line goes, the L402 line stays whole", () => {
    const big = macaroon(3_500); // about 5 KB of base64, as in the issue: four copies would be 20 KB
    expect(big.length).toBeGreaterThan(4_500);
    const lines = l402ChallengeLines(service(), big, INVOICE);
    expect(lines.map((line) => line.split(" ")[0])).toEqual(["L402"]);
    // Half of what both lines would take, and under common clients' 16 KiB header limit.
    expect(lines.join(", ").length).toBeGreaterThan(MAX_L402_CHALLENGE_BYTES / 2);
    expect(lines.join(", ").length).toBeLessThan(16 * 1024);
    expect(parseChallenge(lines)).toMatchObject({ scheme: "L402", macaroon: big });
  });

  it("is refused by the config schema when it is not a boolean", () => {
    expect(() => service({ lsatChallenge: "no" })).toThrow();
  });
});
