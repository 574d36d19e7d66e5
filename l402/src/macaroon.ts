import macaroonPackage from "macaroon";
import { decodeBase64 } from "./base64.js";
import { encodeBinaryV2 } from "./binary-v2.js";
import { assertCaveatText } from "./caveats.js";
import { asL402Error, L402Error } from "./errors.js";
import { decodeIdentifier, type TokenIdentifier } from "./identifier.js";

type PackageMacaroon = ReturnType<typeof macaroonPackage.importMacaroon>;

/** A macaroon larger than this is refused before decoding; ours are about 250 bytes. */
export const MAX_MACAROON_BYTES = 4096;
const MAX_MACAROON_BASE64_LENGTH = Math.ceil(MAX_MACAROON_BYTES / 3) * 4;
const BINARY_V2 = 2;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A macaroon decoded from the wire. Nothing in it is trusted until `verifyToken` has checked it; the package's own
 * macaroon object stays private so that callers depend only on this class.
 */
export class DecodedMacaroon {
  readonly #macaroon: PackageMacaroon;
  readonly identifier: TokenIdentifier;
  readonly identifierBytes: Buffer;
  readonly location: string;
  /** First-party caveats in token order. */
  readonly caveats: readonly string[];
  readonly signature: Buffer;

  private constructor(macaroon: PackageMacaroon) {
    this.#macaroon = macaroon;
    this.identifierBytes = Buffer.from(macaroon.identifier);
    this.identifier = decodeIdentifier(this.identifierBytes);
    this.location = macaroon.location;
    this.caveats = macaroon.caveats.map((caveat) => {
      // L402 has no use for third-party caveats, and one cannot be checked without a discharge macaroon.
      if ("vid" in caveat) throw new L402Error("unknown_caveat", "third-party caveats are not supported");
      return utf8.decode(caveat.identifier);
    });
    this.signature = Buffer.from(macaroon.signature);
  }

  /** Decodes a binary V2 macaroon. Throws only L402Error. */
  static fromBytes(bytes: Uint8Array): DecodedMacaroon {
    return asL402Error("malformed", "invalid macaroon", () => {
      if (bytes.length > MAX_MACAROON_BYTES) {
        throw new L402Error("malformed", `macaroon is larger than ${MAX_MACAROON_BYTES} bytes`);
      }
      // The package would also accept JSON or guess at other formats; only binary V2 is on the L402 wire.
      if (bytes[0] !== BINARY_V2) throw new L402Error("malformed", "not a binary V2 macaroon");
      return new DecodedMacaroon(macaroonPackage.importMacaroon(Uint8Array.from(bytes)));
    });
  }

  /** The binary V2 encoding. */
  toBytes(): Buffer {
    return encodeBinaryV2(this.#macaroon);
  }

  /** Standard base64 of the binary V2 encoding, as it goes in headers. */
  toBase64(): string {
    return this.toBytes().toString("base64");
  }

  /** Whether the HMAC chain from `rootKey` over the identifier and every caveat ends in this signature. */
  hasValidSignature(rootKey: Uint8Array): boolean {
    try {
      // Caveats are judged separately, after the signature; here every condition is accepted.
      this.#macaroon.verify(rootKey, () => null);
      return true;
    } catch {
      return false;
    }
  }

  /** A copy with more first-party caveats appended (attenuation needs no root key). */
  withCaveats(caveats: readonly string[]): DecodedMacaroon {
    const copy = this.#macaroon.clone();
    for (const caveat of caveats) {
      assertCaveatText(caveat);
      copy.addFirstPartyCaveat(caveat);
    }
    return new DecodedMacaroon(copy);
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
