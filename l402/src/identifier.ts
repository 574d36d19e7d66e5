import { randomBytes } from "node:crypto";
import { L402Error } from "./errors.js";
import { sha256 } from "./sha256.js";

/** Aperture's identifier layout: uint16 big-endian version ‖ 32-byte payment hash ‖ 32-byte token id. */
export const IDENTIFIER_VERSION = 0;
export const PAYMENT_HASH_LENGTH = 32;
export const TOKEN_ID_LENGTH = 32;
export const IDENTIFIER_LENGTH = 2 + PAYMENT_HASH_LENGTH + TOKEN_ID_LENGTH;
/** A payment preimage; its sha256 is the payment hash. */
export const PREIMAGE_LENGTH = 32;

export interface TokenIdentifier {
  readonly version: typeof IDENTIFIER_VERSION;
  readonly paymentHash: Buffer;
  readonly tokenId: Buffer;
}

export function encodeIdentifier(identifier: TokenIdentifier): Buffer {
  if (identifier.version !== IDENTIFIER_VERSION) {
    throw new RangeError(`identifier version must be ${IDENTIFIER_VERSION}`);
  }
  if (identifier.paymentHash.length !== PAYMENT_HASH_LENGTH) {
    throw new RangeError(`payment hash must be ${PAYMENT_HASH_LENGTH} bytes, got ${identifier.paymentHash.length}`);
  }
  if (identifier.tokenId.length !== TOKEN_ID_LENGTH) {
    throw new RangeError(`token id must be ${TOKEN_ID_LENGTH} bytes, got ${identifier.tokenId.length}`);
  }
  const bytes = Buffer.alloc(IDENTIFIER_LENGTH);
  bytes.writeUInt16BE(identifier.version, 0);
  identifier.paymentHash.copy(bytes, 2);
  identifier.tokenId.copy(bytes, 2 + PAYMENT_HASH_LENGTH);
  return bytes;
}

/** Throws `unsupported_version` for a version other than 0 (whatever its length), `malformed` for a bad length. */
export function decodeIdentifier(bytes: Uint8Array): TokenIdentifier {
  if (bytes.length < 2) {
    throw new L402Error("malformed", `token identifier is ${bytes.length} bytes, too short to hold a version`);
  }
  const buffer = Buffer.from(bytes);
  const version = buffer.readUInt16BE(0);
  if (version !== IDENTIFIER_VERSION) {
    throw new L402Error("unsupported_version", `token identifier version ${version} is not supported`);
  }
  if (buffer.length !== IDENTIFIER_LENGTH) {
    throw new L402Error("malformed", `token identifier is ${buffer.length} bytes, expected ${IDENTIFIER_LENGTH}`);
  }
  return {
    version: IDENTIFIER_VERSION,
    paymentHash: buffer.subarray(2, 2 + PAYMENT_HASH_LENGTH),
    tokenId: buffer.subarray(2 + PAYMENT_HASH_LENGTH),
  };
}

export function newTokenId(): Buffer {
  return randomBytes(TOKEN_ID_LENGTH);
}

/** The key under which a token's root key is stored: sha256 of the encoded identifier, as Aperture does. */
export function rootKeyId(identifierBytes: Uint8Array): Buffer {
  return sha256(identifierBytes);
}
