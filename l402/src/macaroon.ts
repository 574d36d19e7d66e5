import { decodeBase64 } from "./base64.js";
import { type DecodedMacaroonFields, decodeBinaryV2, encodeBinaryV2 } from "./binary-v2.js";
import { assertCaveatText } from "./caveats.js";
import { asL402Error, L402Error } from "./errors.js";
import { decodeIdentifier, type TokenIdentifier } from "./identifier.js";
import { chainSignature, extendSignature, signaturesMatch } from "./signature.js";

/** A macaroon larger than this is refused before decoding; ours are about 250 bytes. */
export const MAX_MACAROON_BYTES = 4096;
const MAX_MACAROON_BASE64_LENGTH = Math.ceil(MAX_MACAROON_BYTES / 3) * 4;

const utf8 = new TextDecoder("utf-8", { fatal: true });

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
    this.#caveatBytes = fields.caveats.map((caveat) => {
      // L402 has no use for third-party caveats, and one cannot be checked without a discharge macaroon.
      if (caveat.verificationId) throw new L402Error("unknown_caveat", "third-party caveats are not supported");
      return caveat.identifier;
    });
    this.caveats = this.#caveatBytes.map((caveat) => utf8.decode(caveat));
    this.signature = fields.signature;
  }

  /** Decodes a binary V2 macaroon. Throws only L402Error. */
  static fromBytes(bytes: Uint8Array): DecodedMacaroon {
    return asL402Error("malformed", "invalid macaroon", () => {
      if (bytes.length > MAX_MACAROON_BYTES) {
        throw new L402Error("malformed", `macaroon is larger than ${MAX_MACAROON_BYTES} bytes`);
      }
      return new DecodedMacaroon(decodeBinaryV2(bytes));
    });
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
  hasValidSignature(rootKey: Uint8Array): boolean {
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
  return asL402Error("malformed", "invalid macaroon", () => {
    if (typeof base64 !== "string") throw new L402Error("malformed", "macaroon must be a string");
    if (base64.length > MAX_MACAROON_BASE64_LENGTH) {
      throw new L402Error("malformed", `macaroon is larger than ${MAX_MACAROON_BYTES} bytes`);
    }
    return decodeMacaroonBytes(decodeBase64(base64));
  });
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
