import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decodeIdentifier, encodeIdentifier, IDENTIFIER_LENGTH, newTokenId, rootKeyId } from "./identifier.js";
import { codeOf } from "./test-support/code-of.js";

const paymentHash = Buffer.alloc(32, 0xab);
const tokenId = Buffer.alloc(32, 0xcd);

describe("token identifier", () => {
  it("encodes Aperture's layout: uint16 BE version, payment hash, token id", () => {
    const bytes = encodeIdentifier({ version: 0, paymentHash, tokenId });
    expect(bytes.length).toBe(66);
    expect(bytes.toString("hex")).toBe(`0000${"ab".repeat(32)}${"cd".repeat(32)}`);
  });

  it("round-trips", () => {
    const id = { version: 0 as const, paymentHash, tokenId: newTokenId() };
    const decoded = decodeIdentifier(encodeIdentifier(id));
    expect(decoded.version).toBe(0);
    expect(decoded.paymentHash.equals(paymentHash)).toBe(true);
    expect(decoded.tokenId.equals(id.tokenId)).toBe(true);
  });

  it("refuses identifiers of the wrong length", () => {
    const good = encodeIdentifier({ version: 0, paymentHash, tokenId });
    expect(codeOf(() => decodeIdentifier(good.subarray(0, IDENTIFIER_LENGTH - 1)))).toBe("malformed");
    expect(codeOf(() => decodeIdentifier(Buffer.concat([good, Buffer.from([0])])))).toBe("malformed");
    expect(codeOf(() => decodeIdentifier(Buffer.alloc(1)))).toBe("malformed");
    expect(codeOf(() => decodeIdentifier(Buffer.alloc(0)))).toBe("malformed");
  });

  it("refuses an unknown version, whatever the length", () => {
    const v1 = encodeIdentifier({ version: 0, paymentHash, tokenId });
    v1.writeUInt16BE(1, 0);
    expect(codeOf(() => decodeIdentifier(v1))).toBe("unsupported_version");
    expect(codeOf(() => decodeIdentifier(Buffer.from([0x01, 0x00, 0xff])))).toBe("unsupported_version");
  });

  it("refuses to encode hashes and ids of the wrong size", () => {
    expect(() => encodeIdentifier({ version: 0, paymentHash: Buffer.alloc(31), tokenId })).toThrow(RangeError);
    expect(() => encodeIdentifier({ version: 0, paymentHash, tokenId: Buffer.alloc(33) })).toThrow(RangeError);
  });

  it("derives the root key id as sha256 of the identifier bytes", () => {
    const bytes = encodeIdentifier({ version: 0, paymentHash, tokenId });
    expect(rootKeyId(bytes).toString("hex")).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(newTokenId().equals(newTokenId())).toBe(false);
  });
});
