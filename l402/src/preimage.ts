import { timingSafeEqual } from "node:crypto";
import { sha256 } from "./sha256.js";

/** Whether sha256(preimage) is `paymentHash`, compared in constant time; false when the lengths cannot match. */
export function preimageProves(preimage: Uint8Array, paymentHash: Uint8Array): boolean {
  const hash = sha256(preimage);
  return hash.length === paymentHash.length && timingSafeEqual(hash, paymentHash);
}

/** `preimageProves` for hex text (as Node's Buffer reads hex: either case; the caller checks the form first). */
export function preimageHexProves(preimageHex: string, paymentHashHex: string): boolean {
  return preimageProves(Buffer.from(preimageHex, "hex"), Buffer.from(paymentHashHex, "hex"));
}
