import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * The macaroon HMAC chain (libmacaroons, go-macaroon): the root key is first derived with the fixed generator key,
 * then sig₀ = HMAC(key, identifier) and sigᵢ = HMAC(sigᵢ₋₁, caveatᵢ) for first-party caveats. node's native HMAC
 * makes this a few microseconds; the `macaroon` package's sjcl took hundreds.
 */
const KEY_GENERATOR = Buffer.from("macaroons-key-generator", "utf8");
export const SIGNATURE_LENGTH = 32;

const hmac = (key: Uint8Array, data: Uint8Array): Buffer => createHmac("sha256", key).update(data).digest();

/**
 * What the HMAC chain of every macaroon under one root key starts from: HMAC("macaroons-key-generator", rootKey).
 * It depends on the root key alone, so a verifier that sees a root key more than once can derive it once and save
 * one HMAC per verification. It is as secret as the root key.
 */
export class MacaroonKey {
  private constructor(readonly bytes: Buffer) {}

  static derive(rootKey: Uint8Array): MacaroonKey {
    return new MacaroonKey(hmac(KEY_GENERATOR, rootKey));
  }
}

/** The signature of a macaroon with `identifier` and first-party `caveats`, minted under `rootKey`. */
export function chainSignature(
  rootKey: Uint8Array | MacaroonKey,
  identifier: Uint8Array,
  caveats: readonly Uint8Array[],
): Buffer {
  const key = rootKey instanceof MacaroonKey ? rootKey.bytes : hmac(KEY_GENERATOR, rootKey);
  let signature = hmac(key, identifier);
  for (const caveat of caveats) signature = hmac(signature, caveat);
  return signature;
}

/** The signature after appending first-party `caveats` to a macaroon signed `signature` (attenuation). */
export function extendSignature(signature: Uint8Array, caveats: readonly Uint8Array[]): Buffer {
  let current: Buffer = Buffer.from(signature);
  for (const caveat of caveats) current = hmac(current, caveat);
  return current;
}

/** Constant-time comparison of two signatures; any length other than 32 bytes never matches. */
export function signaturesMatch(expected: Uint8Array, presented: Uint8Array): boolean {
  return (
    expected.length === SIGNATURE_LENGTH &&
    presented.length === SIGNATURE_LENGTH &&
    timingSafeEqual(expected, presented)
  );
}
