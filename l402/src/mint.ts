import { randomBytes } from "node:crypto";
import { encodeBinaryV2 } from "./binary-v2.js";
import { assertCaveatText } from "./caveats.js";
import {
  encodeIdentifier,
  IDENTIFIER_VERSION,
  newTokenId,
  rootKeyId,
  TOKEN_ID_LENGTH,
  type TokenIdentifier,
} from "./identifier.js";
import { chainSignature, MacaroonKey } from "./signature.js";

/** Aperture's macaroon location; clients do not read it, so keeping it costs nothing and matches their tokens. */
export const DEFAULT_LOCATION = "lsat";
export const ROOT_KEY_LENGTH = 32;

export interface MintTokenOptions {
  readonly paymentHash: Buffer;
  /** First-party caveats in order, e.g. from servicesCaveat, capabilitiesCaveat and validUntilCaveat. */
  readonly caveats: readonly string[];
  readonly location?: string;
  /** Defaults to 32 fresh random bytes; give one only for test vectors. */
  readonly rootKey?: Buffer;
  /** Defaults to 32 fresh random bytes; give one only for test vectors. */
  readonly tokenId?: Buffer;
}

export interface MintedToken {
  /** Binary V2 encoding. */
  readonly macaroon: Buffer;
  /** Standard base64 of `macaroon`, as it goes in the challenge. */
  readonly macaroonBase64: string;
  readonly identifier: TokenIdentifier;
  readonly identifierBytes: Buffer;
  /** Secret: store it under `rootKeyId`; deleting it revokes the token. */
  readonly rootKey: Buffer;
  readonly rootKeyId: Buffer;
  /** Secret too: what a verifier may keep with the root key to save one HMAC per verification. */
  readonly macaroonKey: MacaroonKey;
}

/** Mints a token bound to an invoice's payment hash. Throws RangeError for arguments it cannot encode. */
export function mintToken(options: MintTokenOptions): MintedToken {
  const rootKey = options.rootKey ?? randomBytes(ROOT_KEY_LENGTH);
  if (rootKey.length !== ROOT_KEY_LENGTH) throw new RangeError(`root key must be ${ROOT_KEY_LENGTH} bytes`);
  const tokenId = options.tokenId ?? newTokenId();
  if (tokenId.length !== TOKEN_ID_LENGTH) throw new RangeError(`token id must be ${TOKEN_ID_LENGTH} bytes`);
  const identifier: TokenIdentifier = { version: IDENTIFIER_VERSION, paymentHash: options.paymentHash, tokenId };
  const identifierBytes = encodeIdentifier(identifier);
  for (const caveat of options.caveats) assertCaveatText(caveat);

  const caveats = options.caveats.map((caveat) => Buffer.from(caveat, "utf8"));
  const macaroonKey = MacaroonKey.derive(rootKey);
  const bytes = encodeBinaryV2({
    location: options.location ?? DEFAULT_LOCATION,
    identifier: identifierBytes,
    caveats: caveats.map((identifier) => ({ identifier })),
    signature: chainSignature(macaroonKey, identifierBytes, caveats),
  });
  return {
    macaroon: bytes,
    macaroonBase64: bytes.toString("base64"),
    identifier: {
      version: IDENTIFIER_VERSION,
      paymentHash: Buffer.from(options.paymentHash),
      tokenId: Buffer.from(tokenId),
    },
    identifierBytes,
    rootKey,
    rootKeyId: rootKeyId(identifierBytes),
    macaroonKey,
  };
}
