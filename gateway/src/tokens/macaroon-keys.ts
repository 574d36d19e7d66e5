import { timingSafeEqual } from "node:crypto";
import { MacaroonKey } from "@l402-gateway/l402";
import { setBounded } from "./bounded.js";

/**
 * Derived macaroon keys (the first HMAC of every signature chain, which depends on the root key alone) by root key
 * id, so that a credential not verified before costs one HMAC less when its token's root key was seen before. It
 * decides nothing: the store is still asked for the root key on every request, so a revoked token is refused at once,
 * and an entry serves only the very root key the store returned (anything else is derived afresh).
 */
export class MacaroonKeys {
  private readonly entries = new Map<string, { readonly rootKey: Buffer; readonly key: MacaroonKey }>();

  constructor(private readonly maxEntries = 10_000) {}

  /** The MacaroonKey of `rootKey`, the root key the store holds under `rootKeyId`. */
  keyFor(rootKeyId: string, rootKey: Buffer): MacaroonKey {
    const entry = this.entries.get(rootKeyId);
    if (entry && entry.rootKey.length === rootKey.length && timingSafeEqual(entry.rootKey, rootKey)) return entry.key;
    const key = MacaroonKey.derive(rootKey);
    this.remember(rootKeyId, rootKey, key);
    return key;
  }

  /** Keeps a key derived elsewhere (at mint): the first request with the token then skips the derivation too. */
  remember(rootKeyId: string, rootKey: Buffer, key: MacaroonKey): void {
    setBounded(this.entries, this.maxEntries, rootKeyId, { rootKey: Buffer.from(rootKey), key });
  }

  get size(): number {
    return this.entries.size;
  }
}
