import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { formatAuthorization } from "./authorization.js";
import { preimageCaveat, servicesCaveat } from "./caveats.js";
import { parseCredential } from "./credential.js";
import { decodeMacaroon } from "./macaroon.js";
import { mintToken } from "./mint.js";
import { codeOf } from "./test-support/code-of.js";

const preimage = Buffer.alloc(32, 0x11);
const token = mintToken({
  paymentHash: createHash("sha256").update(preimage).digest(),
  caveats: [servicesCaveat([{ name: "llm", tier: 0 }])],
});
/** What Aperture's client sends in its macaroon headers: the paid macaroon, preimage caveat appended, in hex. */
const paidHex = decodeMacaroon(token.macaroonBase64)
  .withCaveats([preimageCaveat(preimage)])
  .toBytes()
  .toString("hex");

describe("parseCredential", () => {
  it("reads Authorization first, as Aperture does", () => {
    const authorization = formatAuthorization({ macaroon: token.macaroonBase64, preimage });
    const credential = parseCredential({ authorization: [authorization], macaroonHeaders: { macaroon: ["zz"] } });
    expect(credential.macaroons).toEqual([token.macaroonBase64]);
    expect(credential.preimage.equals(preimage)).toBe(true);
  });

  it("reads a hex macaroon with a preimage caveat from each of Aperture's headers, in its order", () => {
    for (const name of ["grpc-metadata-token", "token", "grpc-metadata-macaroon", "macaroon"] as const) {
      for (const hex of [paidHex, paidHex.toUpperCase()]) {
        const credential = parseCredential({ authorization: [], macaroonHeaders: { [name]: [hex] } });
        expect(
          decodeMacaroon(credential.macaroons[0] ?? "")
            .toBytes()
            .toString("hex"),
        ).toBe(paidHex);
        expect(credential.preimage.equals(preimage)).toBe(true);
      }
    }
    // Another scheme in Authorization does not hide the macaroon header.
    const credential = parseCredential({ authorization: ["Bearer abc"], macaroonHeaders: { macaroon: [paidHex] } });
    expect(credential.preimage.equals(preimage)).toBe(true);
    // The first header in Aperture's order wins, even when a later one is broken.
    expect(
      parseCredential({ authorization: [], macaroonHeaders: { "grpc-metadata-macaroon": [paidHex], macaroon: ["x"] } })
        .preimage,
    ).toEqual(preimage);
  });

  it("refuses a macaroon header without a preimage caveat, not in hex, or given twice differently", () => {
    const unpaidHex = token.macaroon.toString("hex");
    const code = (values: string[]) =>
      codeOf(() => parseCredential({ authorization: [], macaroonHeaders: { macaroon: values } }));
    expect(code([unpaidHex])).toBe("malformed");
    expect(code([token.macaroonBase64])).toBe("malformed");
    expect(code([`${paidHex}0`])).toBe("malformed");
    expect(code([paidHex, unpaidHex])).toBe("malformed");
    expect(code([paidHex, paidHex])).toBeUndefined();
    expect(code(["ab".repeat(5000)])).toBe("malformed");
    const badPreimage = decodeMacaroon(token.macaroonBase64).withCaveats(["preimage=xyz"]).toBytes().toString("hex");
    expect(code([badPreimage])).toBe("malformed");
  });

  it("says missing when no form is present", () => {
    expect(codeOf(() => parseCredential({ authorization: [] }))).toBe("missing");
    expect(codeOf(() => parseCredential({ authorization: ["Bearer x"], macaroonHeaders: { macaroon: [] } }))).toBe(
      "missing",
    );
  });
});
