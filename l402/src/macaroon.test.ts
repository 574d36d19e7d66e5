import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { addFirstPartyCaveats, decodeMacaroon, decodeMacaroonBytes, MAX_MACAROON_BYTES } from "./macaroon.js";
import { mintToken } from "./mint.js";
import { codeOf } from "./test-support/code-of.js";

const paymentHash = createHash("sha256").update(Buffer.alloc(32, 7)).digest();
const caveats = ["services=llm:0", "llm_valid_until=1893456000"];

describe("mint and decode", () => {
  it("round-trips a minted token through standard base64", () => {
    const token = mintToken({ paymentHash, caveats });
    expect(token.macaroonBase64).toBe(token.macaroon.toString("base64"));
    expect(token.rootKey.length).toBe(32);
    expect(token.macaroon[0]).toBe(2);
    const decoded = decodeMacaroon(token.macaroonBase64);
    expect(decoded.identifierBytes.equals(token.identifierBytes)).toBe(true);
    expect(decoded.identifier.paymentHash.equals(paymentHash)).toBe(true);
    expect(decoded.identifier.tokenId.equals(token.identifier.tokenId)).toBe(true);
    expect(decoded.location).toBe("lsat");
    expect(decoded.caveats).toEqual(caveats);
    expect(decoded.toBase64()).toBe(token.macaroonBase64);
    expect(decoded.hasValidSignature(token.rootKey)).toBe(true);
    expect(decoded.hasValidSignature(Buffer.alloc(32))).toBe(false);
  });

  it("uses a fresh root key and token id per token", () => {
    const a = mintToken({ paymentHash, caveats });
    const b = mintToken({ paymentHash, caveats });
    expect(a.rootKey.equals(b.rootKey)).toBe(false);
    expect(a.identifier.tokenId.equals(b.identifier.tokenId)).toBe(false);
    expect(a.rootKeyId.equals(b.rootKeyId)).toBe(false);
  });

  it("honours a configured location", () => {
    const token = mintToken({ paymentHash, caveats, location: "gateway.example" });
    expect(decodeMacaroon(token.macaroonBase64).location).toBe("gateway.example");
  });

  it("accepts URL-safe base64 without padding", () => {
    const token = mintToken({ paymentHash, caveats: [...caveats, "llm_capabilities=a"] });
    const urlSafe = token.macaroon.toString("base64url");
    expect(urlSafe).not.toBe(token.macaroonBase64);
    expect(decodeMacaroon(urlSafe).identifierBytes.equals(token.identifierBytes)).toBe(true);
  });

  it("refuses bad base64 with malformed", () => {
    const good = mintToken({ paymentHash, caveats }).macaroonBase64;
    const bad = [
      "",
      "not base64!",
      `${good.slice(0, 10)} ${good.slice(10)}`,
      `${good}=`,
      good.slice(0, -1),
      `${good.slice(0, 20).replace(/[A-Za-z0-9]/, "-")}${good.slice(20).replace(/[A-Za-z0-9]/, "+")}`,
      "AgE=",
      "QUJD",
    ];
    for (const text of bad)
      expect(
        codeOf(() => decodeMacaroon(text)),
        text,
      ).toBe("malformed");
  });

  it("refuses non-canonical base64 that Node's lenient decoder would accept", () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const token = [0, 1, 2]
      .map((extra) => mintToken({ paymentHash, caveats: [...caveats, `llm_capabilities=${"a".repeat(extra + 1)}`] }))
      .find((candidate) => candidate.macaroon.length % 3 !== 0);
    if (!token) throw new Error("no token with a partial final base64 group");
    const canonical = token.macaroonBase64.replace(/=+$/, "");
    const last = alphabet.indexOf(canonical.slice(-1));
    const nonCanonical = `${canonical.slice(0, -1)}${alphabet[last ^ 1]}`;
    expect(Buffer.from(nonCanonical, "base64").equals(token.macaroon)).toBe(true);
    expect(decodeMacaroon(canonical).toBase64()).toBe(token.macaroonBase64);
    expect(codeOf(() => decodeMacaroon(nonCanonical))).toBe("malformed");
  });

  it("refuses bytes that are not a binary V2 macaroon", () => {
    const good = mintToken({ paymentHash, caveats }).macaroon;
    expect(codeOf(() => decodeMacaroonBytes(good.subarray(0, good.length - 3)))).toBe("malformed");
    expect(codeOf(() => decodeMacaroonBytes(Buffer.concat([good, Buffer.from([0])])))).toBe("malformed");
    expect(codeOf(() => decodeMacaroonBytes(Buffer.from('{"v":2}')))).toBe("malformed");
    expect(codeOf(() => decodeMacaroonBytes(Buffer.alloc(0)))).toBe("malformed");
  });

  it("refuses oversized macaroons before decoding", () => {
    const huge = Buffer.alloc(MAX_MACAROON_BYTES + 1, 2);
    expect(codeOf(() => decodeMacaroonBytes(huge))).toBe("malformed");
    expect(codeOf(() => decodeMacaroon(huge.toString("base64")))).toBe("malformed");
  });

  it("refuses a macaroon whose identifier is not a 66-byte version-0 identifier", async () => {
    const { default: macaroonPackage } = await import("macaroon");
    const exportWith = (identifier: Buffer) =>
      Buffer.from(
        macaroonPackage.newMacaroon({ identifier, rootKey: Buffer.alloc(32), location: "lsat" }).exportBinary(),
      );
    expect(codeOf(() => decodeMacaroonBytes(exportWith(Buffer.alloc(65))))).toBe("malformed");
    const v1 = Buffer.alloc(66);
    v1.writeUInt16BE(1, 0);
    expect(codeOf(() => decodeMacaroonBytes(exportWith(v1)))).toBe("unsupported_version");
  });

  it("appends caveats without the root key, and the result still verifies", () => {
    const token = mintToken({ paymentHash, caveats });
    const narrowed = addFirstPartyCaveats(token.macaroonBase64, ["llm_valid_until=1800000000"]);
    const decoded = decodeMacaroon(narrowed);
    expect(decoded.caveats).toEqual([...caveats, "llm_valid_until=1800000000"]);
    expect(decoded.hasValidSignature(token.rootKey)).toBe(true);
    expect(() => addFirstPartyCaveats(token.macaroonBase64, ["no-equals"])).toThrow(RangeError);
    expect(codeOf(() => addFirstPartyCaveats("garbage!", ["a=b"]))).toBe("malformed");
  });

  it("encodes many and long caveats (the package's own exporter fails beyond three)", () => {
    const many = [...caveats, ...Array.from({ length: 10 }, (_, i) => `llm_valid_until=${1893456000 - i}`)];
    const long = `llm_capabilities=${Array.from({ length: 40 }, (_, i) => `capability${i}`).join(",")}`;
    const token = mintToken({ paymentHash, caveats: [...many, long] });
    const decoded = decodeMacaroon(token.macaroonBase64);
    expect(decoded.caveats).toEqual([...many, long]);
    expect(decoded.toBase64()).toBe(token.macaroonBase64);
    expect(decoded.hasValidSignature(token.rootKey)).toBe(true);
  });

  it("refuses to mint with bad arguments", () => {
    expect(() => mintToken({ paymentHash: Buffer.alloc(31), caveats })).toThrow(RangeError);
    expect(() => mintToken({ paymentHash, caveats, rootKey: Buffer.alloc(16) })).toThrow(RangeError);
    expect(() => mintToken({ paymentHash, caveats: ["services"] })).toThrow(RangeError);
    expect(() => mintToken({ paymentHash, caveats: ["a=b\r\nc"] })).toThrow(RangeError);
  });
});
