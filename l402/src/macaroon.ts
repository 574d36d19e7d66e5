import { decodeBase64 } from "./base64.js";
import { type DecodedMacaroonFields, encodeBinaryV2, readBinaryV2 } from "./binary-v2.js";
import { assertCaveatText } from "./caveats.js";
import { L402Error, toL402Error } from "./errors.js";
import { decodeIdentifier, type TokenIdentifier } from "./identifier.js";
import { chainSignature, extendSignature, type MacaroonKey, signaturesMatch } from "./signature.js";
import { strictUtf8 } from "./text.js";

/** A macaroon larger than this is refused before decoding; ours are about 250 bytes. */
export const MAX_MACAROON_BYTES = 4096;
const MAX_MACAROON_BASE64_LENGTH = Math.ceil(MAX_MACAROON_BYTES / 3) * 4;

/** A macaroon decoded from the wire. Nothing in it is trusted until `verifyToken` has checked it. */
export class DecodedMacaroon {
  readonly identifier: TokenIdentifier;
  readonly identifierBytes: Buffer;
  readonly location: string;
  /** First-party caveats in token order. */
  readonly caveats: readonly string[];
  readonly signature: Buffer;
  readonly #caveatBytes: readonly Buffer[];

  private constructor(fields: DecodedMacaroonFields) {
    this.identifierBytes = fields.identifier;
    this.identifier = decodeIdentifier(this.identifierBytes);
    this.location = fields.location;
    const caveatBytes: Buffer[] = [];
    const caveats: string[] = [];
    for (const caveat of fields.caveats) {
      // L402 has no use for third-party caveats, and one cannot be checked without a discharge macaroon.
      if (caveat.verificationId) throw new L402Error("unknown_caveat", "third-party caveats are not supported");
      const text = strictUtf8(caveat.identifier);
      if (text === undefined) throw new L402Error("malformed", "invalid macaroon: a caveat is not UTF-8");
      caveatBytes.push(caveat.identifier);
      caveats.push(text);
    }
    this.#caveatBytes = caveatBytes;
    this.caveats = caveats;
    this.signature = fields.signature;
  }

  /** Decodes a binary V2 macaroon. Throws only L402Error. */
  static fromBytes(bytes: Uint8Array): DecodedMacaroon {
    return DecodedMacaroon.decode(bytes, true);
  }

  /** fromBytes without the copy: the macaroon keeps views of `bytes`, which nothing else may hold. */
  static fromOwnedBytes(bytes: Buffer): DecodedMacaroon {
    return DecodedMacaroon.decode(bytes, false);
  }

  private static decode(bytes: Uint8Array, copy: boolean): DecodedMacaroon {
    try {
      if (bytes.length > MAX_MACAROON_BYTES) {
        throw new L402Error("malformed", `macaroon is larger than ${MAX_MACAROON_BYTES} bytes`);
      }
      const owned = copy || !Buffer.isBuffer(bytes) ? Buffer.from(bytes) : bytes;
      return new DecodedMacaroon(readBinaryV2(owned));
    } catch (error) {
      throw toL402Error(error, "malformed", "invalid macaroon");
    }
  }

  /** The binary V2 encoding. */
  toBytes(): Buffer {
    return encodeBinaryV2({
      location: this.location,
      identifier: this.identifierBytes,
      caveats: this.#caveatBytes.map((identifier) => ({ identifier })),
      signature: this.signature,
    });
  }

  /** Standard base64 of the binary V2 encoding, as it goes in headers. */
  toBase64(): string {
    return this.toBytes().toString("base64");
  }

  /** Whether the HMAC chain from `rootKey` over the identifier and every caveat ends in this signature. */
  hasValidSignature(rootKey: Uint8Array | MacaroonKey): boolean {
    return signaturesMatch(chainSignature(rootKey, this.identifierBytes, this.#caveatBytes), this.signature);
  }

  /** A copy with more first-party caveats appended (attenuation needs no root key). */
  withCaveats(caveats: readonly string[]): DecodedMacaroon {
    const added = caveats.map((caveat) => {
      assertCaveatText(caveat);
      return Buffer.from(caveat, "utf8");
    });
    return new DecodedMacaroon({
      location: this.location,
      identifier: this.identifierBytes,
      caveats: [...this.#caveatBytes, ...added].map((identifier) => ({ identifier, verificationId: undefined })),
      signature: extendSignature(this.signature, added),
    });
  }
}

/** Decodes standard (or URL-safe, unpadded) base64 of a binary V2 macaroon. Throws only L402Error. */
export function decodeMacaroon(base64: string): DecodedMacaroon {
  if (typeof base64 !== "string") throw new L402Error("malformed", "macaroon must be a string");
  if (base64.length > MAX_MACAROON_BASE64_LENGTH) {
    throw new L402Error("malformed", `macaroon is larger than ${MAX_MACAROON_BYTES} bytes`);
  }
  // The decoded bytes are this call's own: the macaroon may keep views of them.
  return DecodedMacaroon.fromOwnedBytes(decodeBase64(base64));
}

/** Decodes a binary V2 macaroon. Throws only L402Error. */
export function decodeMacaroonBytes(bytes: Uint8Array): DecodedMacaroon {
  return DecodedMacaroon.fromBytes(bytes);
}

/**
 * Appends first-party caveats to a macaroon given in base64 and returns the standard base64 of the result. This is
 * how a holder narrows a token before lending it (e.g. `llm_capabilities=chat`); it needs no root key.
 */
export function addFirstPartyCaveats(macaroonBase64: string, caveats: readonly string[]): string {
  return decodeMacaroon(macaroonBase64).withCaveats(caveats).toBase64();
}
