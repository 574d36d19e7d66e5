import type { RootKeyLookup } from "./store.js";

type ActiveLookup = Extract<RootKeyLookup, { found: "active" }>;

/**
 * Root keys of paid fixed-price tokens, which change only when revoked, kept for `ttlMs`. Revocations clear it
 * (`clear`), and while revocations cannot be heard it is bypassed (`enabled = false`), so a revoked token is refused
 * at once where the notification arrives and never more than `ttlMs` late anywhere.
 */
export class RootKeyCache {
  private readonly entries = new Map<string, { lookup: ActiveLookup; expiresAt: number }>();
  enabled = false;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  get(rootKeyId: string, now = Date.now()): ActiveLookup | undefined {
    if (!this.enabled || this.ttlMs === 0) return undefined;
    const entry = this.entries.get(rootKeyId);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.entries.delete(rootKeyId);
      return undefined;
    }
    return entry.lookup;
  }

  /** Keeps a lookup only if it cannot change but by revocation: a paid, unmetered token's own credential. */
  offer(rootKeyId: string, lookup: RootKeyLookup, now = Date.now()): void {
    if (!this.enabled || this.ttlMs === 0) return;
    if (lookup.found !== "active" || !lookup.credential.paid || lookup.token.metered) return;
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(rootKeyId, { lookup, expiresAt: now + this.ttlMs });
  }

  clear(): void {
    this.entries.clear();
  }
}
