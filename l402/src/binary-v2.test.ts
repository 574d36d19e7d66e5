import { randomBytes } from "node:crypto";
import fc from "fast-check";
import macaroonPackage from "macaroon";
import { describe, expect, it } from "vitest";
import { BinaryV2Error, decodeBinaryV2, encodeBinaryV2 } from "./binary-v2.js";
import { encodeIdentifier, IDENTIFIER_VERSION } from "./identifier.js";
import { decodeMacaroonBytes } from "./macaroon.js";
import { mintToken } from "./mint.js";

// The `macaroon` package (a port of go-macaroon) is the reference: the native codec and HMAC chain must agree with it.
type PackageMacaroon = ReturnType<typeof macaroonPackage.importMacaroon>;

const caveatText = fc
  .tuple(fc.stringMatching(/^[a-z_]{1,12}$/), fc.string({ maxLength: 40 }))
  .map(([condition, value]) => `${condition}=${value.replace(/[\r\n]/g, "")}`);
const identifier = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((tokenId) =>
    encodeIdentifier({ version: IDENTIFIER_VERSION, paymentHash: randomBytes(32), tokenId: Buffer.from(tokenId) }),
  );
const packageMacaroon = fc
  .record({
    identifier,
    location: fc.constantFrom("", "lsat", "gateway.example", "ünïcode"),
    caveats: fc.array(caveatText, { maxLength: 8 }),
    rootKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  })
  .map(({ identifier, location, caveats, rootKey }) => {
    const macaroon = macaroonPackage.newMacaroon({ identifier, location, rootKey, version: 2 });
    for (const caveat of caveats) macaroon.addFirstPartyCaveat(caveat);
    return { macaroon, rootKey, caveats };
  });

function packageBytes(macaroon: PackageMacaroon): Buffer {
  return encodeBinaryV2(macaroon);
}

function packageVerifies(macaroon: PackageMacaroon, rootKey: Uint8Array): boolean {
  try {
    macaroon.verify(rootKey, () => null);
    return true;
  } catch {
    return false;
  }
}

describe("native binary V2 codec and HMAC chain, against the macaroon package", () => {
  it("decodes what the package writes, field for field, and agrees on every signature", () => {
    fc.assert(
      fc.property(packageMacaroon, fc.uint8Array({ minLength: 32, maxLength: 32 }), (made, otherKey) => {
        const bytes = packageBytes(made.macaroon);
        const ours = decodeMacaroonBytes(bytes);
        expect(ours.identifierBytes.equals(Buffer.from(made.macaroon.identifier))).toBe(true);
        expect(ours.location).toBe(made.macaroon.location);
        expect(ours.caveats).toEqual(made.caveats);
        expect(ours.signature.equals(Buffer.from(made.macaroon.signature))).toBe(true);
        expect(ours.toBytes().equals(bytes)).toBe(true);
        expect(ours.hasValidSignature(made.rootKey)).toBe(true);
        expect(ours.hasValidSignature(otherKey)).toBe(packageVerifies(made.macaroon, otherKey));
      }),
      { numRuns: 200 },
    );
  });

  it("mints and attenuates tokens the package verifies", () => {
    fc.assert(
      fc.property(fc.array(caveatText, { maxLength: 5 }), fc.array(caveatText, { maxLength: 3 }), (first, more) => {
        const token = mintToken({ paymentHash: randomBytes(32), caveats: first });
        const narrowed = decodeMacaroonBytes(token.macaroon).withCaveats(more);
        const imported = macaroonPackage.importMacaroon(Uint8Array.from(narrowed.toBytes()));
        expect(packageVerifies(imported, token.rootKey)).toBe(true);
        expect(packageVerifies(imported, randomBytes(32))).toBe(false);
      }),
      { numRuns: 100 },
    );
  });

  it("accepts a mutated encoding exactly when the package does, with the same fields", () => {
    const base = packageBytes(
      (() => {
        const macaroon = macaroonPackage.newMacaroon({
          identifier: randomBytes(66),
          location: "lsat",
          rootKey: randomBytes(32),
          version: 2,
        });
        macaroon.addFirstPartyCaveat("services=llm:0");
        macaroon.addFirstPartyCaveat("llm_capabilities=chat");
        return macaroon;
      })(),
    );
    const mutation = fc.oneof(
      fc.record({ at: fc.nat(base.length - 1), byte: fc.nat(255) }).map(({ at, byte }) => {
        const copy = Buffer.from(base);
        copy[at] = byte;
        return copy;
      }),
      fc.nat(base.length - 1).map((length) => base.subarray(0, length)),
      fc.uint8Array({ minLength: 1, maxLength: 8 }).map((tail) => Buffer.concat([base, tail])),
      fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.concat([Uint8Array.of(2), bytes])),
    );
    fc.assert(
      fc.property(mutation, (bytes) => {
        let theirs: PackageMacaroon | undefined;
        try {
          theirs = macaroonPackage.importMacaroon(Uint8Array.from(bytes));
        } catch {
          theirs = undefined;
        }
        let ours: ReturnType<typeof decodeBinaryV2> | undefined;
        try {
          ours = decodeBinaryV2(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(BinaryV2Error);
        }
        // The package guesses at JSON and V1 for input that is not V2; only V2 counts here.
        if (bytes[0] !== 2) return;
        expect(ours !== undefined).toBe(theirs !== undefined);
        if (!ours || !theirs) return;
        expect(ours.identifier.equals(Buffer.from(theirs.identifier))).toBe(true);
        expect(ours.location).toBe(theirs.location);
        expect(ours.signature.equals(Buffer.from(theirs.signature))).toBe(true);
        expect(ours.caveats.map((caveat) => caveat.identifier.toString("hex"))).toEqual(
          theirs.caveats.map((caveat) => Buffer.from(caveat.identifier).toString("hex")),
        );
      }),
      { numRuns: 3000 },
    );
  });
});
