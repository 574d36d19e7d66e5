import { createHash, randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, it } from "vitest";
import { checkProperty } from "../../test/support/fuzz-seed.js";
import { formatAuthorization, parseAuthorization } from "./authorization.js";
import { capabilitiesCaveat, servicesCaveat, validUntilCaveat } from "./caveats.js";
import { formatChallenge, parseChallenge } from "./challenge.js";
import { MACAROON_HEADERS, parseCredential } from "./credential.js";
import { L402Error } from "./errors.js";
import { decodeIdentifier, encodeIdentifier } from "./identifier.js";
import { decodeMacaroon, decodeMacaroonBytes } from "./macaroon.js";
import { mintToken } from "./mint.js";
import { verifyToken } from "./verify.js";

const CASES = 10_000;

/** Untrusted input may be refused only with an L402Error. */
function onlyTypedErrors(parse: () => unknown): boolean {
  try {
    parse();
    return true;
  } catch (error) {
    return error instanceof L402Error;
  }
}

const b64 = fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString("base64"));
const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes).toString("hex"));
/** Header-ish text: schemes, separators and base64/hex pieces, plus arbitrary strings. */
const headerText = fc.oneof(
  fc.string({ maxLength: 400 }),
  fc
    .tuple(
      fc.constantFrom("L402", "LSAT", "l402", "Bearer", "", "L402  "),
      fc.array(fc.oneof(b64, hex64, fc.constantFrom(":", ",", "=", '"', " ", "macaroon=", "token=", "invoice=")), {
        maxLength: 8,
      }),
    )
    .map(([scheme, parts]) => `${scheme} ${parts.join("")}`),
);

describe("l402 parsers under property-based fuzzing", { timeout: 120_000 }, () => {
  it("parseAuthorization never throws anything but an L402Error", async () => {
    await checkProperty(
      "parseAuthorization",
      fc.property(fc.oneof(headerText, fc.array(headerText, { maxLength: 3 })), (value) =>
        onlyTypedErrors(() => parseAuthorization(value)),
      ),
      CASES,
    );
  });

  it("parseCredential never throws anything but an L402Error, whatever the macaroon headers hold", async () => {
    const minted = mintToken({ paymentHash: Buffer.alloc(32), caveats: [servicesCaveat([{ name: "llm", tier: 0 }])] });
    const base = decodeMacaroon(minted.macaroonBase64);
    const caveatText = fc.oneof(
      hex64.map((hex) => `preimage=${hex}`),
      fc.string({ maxLength: 80 }).map((text) => `preimage=${text}`),
      fc.string({ minLength: 1, maxLength: 40 }).map((text) => `${text}=v`),
    );
    const macaroonHex = fc.array(caveatText, { maxLength: 4 }).map((caveats) => {
      try {
        return base.withCaveats(caveats).toBytes().toString("hex");
      } catch {
        return base.toBytes().toString("hex");
      }
    });
    const value = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString("hex")),
      macaroonHex,
    );
    await checkProperty(
      "parseCredential",
      fc.property(
        fc.array(headerText, { maxLength: 2 }),
        fc.constantFrom(...MACAROON_HEADERS),
        fc.array(value, { maxLength: 2 }),
        (authorization, name, values) =>
          onlyTypedErrors(() => parseCredential({ authorization, macaroonHeaders: { [name]: values } })),
      ),
      CASES,
    );
  });

  it("parseChallenge never throws anything but an L402Error", async () => {
    await checkProperty(
      "parseChallenge",
      fc.property(fc.oneof(headerText, fc.array(headerText, { maxLength: 3 })), (value) =>
        onlyTypedErrors(() => parseChallenge(value)),
      ),
      CASES,
    );
  });

  it("macaroon and identifier decoding never throw anything but an L402Error", async () => {
    await checkProperty(
      "decodeMacaroon",
      fc.property(fc.oneof(b64, fc.string({ maxLength: 300 })), (text) => onlyTypedErrors(() => decodeMacaroon(text))),
      CASES,
    );
    await checkProperty(
      "decodeMacaroonBytes",
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => onlyTypedErrors(() => decodeMacaroonBytes(bytes))),
      CASES,
    );
    await checkProperty(
      "decodeIdentifier",
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => onlyTypedErrors(() => decodeIdentifier(bytes))),
      CASES,
    );
  });

  it("round-trips identifiers, authorization headers and challenges", async () => {
    const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b));
    await checkProperty(
      "identifier round trip",
      fc.property(bytes32, bytes32, (paymentHash, tokenId) => {
        const decoded = decodeIdentifier(encodeIdentifier({ version: 0, paymentHash, tokenId }));
        return decoded.paymentHash.equals(paymentHash) && decoded.tokenId.equals(tokenId);
      }),
      CASES,
    );
    const macaroon = mintToken({ paymentHash: randomBytes(32), caveats: [] }).macaroonBase64;
    await checkProperty(
      "authorization round trip",
      fc.property(bytes32, fc.constantFrom("L402", "LSAT") as fc.Arbitrary<"L402" | "LSAT">, (preimage, scheme) => {
        const parsed = parseAuthorization(formatAuthorization({ macaroon, preimage, scheme }));
        return parsed.preimage.equals(preimage) && parsed.macaroons[0] === macaroon;
      }),
      CASES,
    );
    const invoice = fc.stringMatching(/^lnbcrt[0-9]{1,6}[a-z0-9]{20,80}$/);
    await checkProperty(
      "challenge round trip",
      fc.property(invoice, (request) => {
        const parsed = parseChallenge(formatChallenge({ macaroonBase64: macaroon, invoice: request }));
        return parsed.scheme === "L402" && parsed.invoice === request && parsed.macaroon === macaroon;
      }),
      CASES,
    );
  });

  it("a minted token with arbitrary grants verifies for what it grants and nothing else", async () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/);
    const capability = fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/);
    await checkProperty(
      "mint and verify",
      fc.property(
        name,
        fc.uniqueArray(capability, { minLength: 1, maxLength: 4 }),
        capability,
        (service, caps, asked) => {
          const preimage = randomBytes(32);
          const token = mintToken({
            paymentHash: createHash("sha256").update(preimage).digest(),
            caveats: [
              servicesCaveat([{ name: service, tier: 0 }]),
              capabilitiesCaveat(service, caps),
              validUntilCaveat(service, Math.floor(Date.now() / 1000) + 60),
            ],
          });
          const verify = () =>
            verifyToken({
              macaroon: decodeMacaroon(token.macaroonBase64),
              preimage,
              rootKey: token.rootKey,
              service,
              issuerCaveats: 3,
              requiredCapabilities: [asked],
            });
          if (caps.includes(asked)) return verify().services[0]?.name === service;
          try {
            verify();
            return false;
          } catch (error) {
            return error instanceof L402Error && error.code === "missing_capability";
          }
        },
      ),
      1_000,
    );
  });
});
