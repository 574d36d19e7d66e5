import type { CredentialHeaders } from "@l402-gateway/l402";
import { setBounded } from "./bounded.js";

/** What a successful verification established, apart from the store's answer (revocation, balance). */
export interface VerifiedCredential {
  readonly rootKeyId: string;
  readonly caveats: readonly string[];
  /** When the token stops being valid for the service it was verified for (ms since the epoch; Infinity: never). */
  readonly validUntilMs: number;
}

/**
 * Credentials that passed verification, keyed by the exact credential text and what the request asked of it
 * (service, capabilities), so that a credential seen before skips decoding, the HMAC chain and the caveat rules. It
 * holds no root key and no balance: the caller still looks the root key up on every request, so a revocation
 * refuses the next request at once, and the expiry is compared with the clock on every hit.
 */
export class VerifiedCredentials {
  private readonly entries = new Map<string, VerifiedCredential>();

  constructor(private readonly maxEntries = 10_000) {}

  /** The cache key, or undefined when the request carries no credential worth remembering. */
  static keyOf(
    headers: CredentialHeaders,
    service: string | undefined,
    requiredCapabilities: readonly string[],
  ): string | undefined {
    let credential = headers.authorization.join("\n");
    for (const [name, values] of Object.entries(headers.macaroonHeaders ?? {})) {
      if (values && values.length > 0) credential += `\n${name}:${values.join("\n")}`;
    }
    if (credential === "") return undefined;
    return `${service ?? "*"}\n${requiredCapabilities.join(",")}\n${credential}`;
  }

  get(key: string, nowMs: number): VerifiedCredential | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.validUntilMs <= nowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  remember(key: string, entry: VerifiedCredential): void {
    setBounded(this.entries, this.maxEntries, key, entry);
  }

  get size(): number {
    return this.entries.size;
  }
}
