import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isUnavailable } from "./errors.js";
import { RootKeyCache } from "./root-key-cache.js";
import type { RootKeyLookup, TokenRecord } from "./store.js";

function lookup(overrides: { paid?: boolean; metered?: boolean } = {}): RootKeyLookup {
  const token = { tokenId: "t", metered: overrides.metered ?? false } as TokenRecord;
  return {
    found: "active",
    rootKey: randomBytes(32),
    token,
    credential: { paymentHash: "h", paid: overrides.paid ?? true },
  };
}

describe("root-key cache", () => {
  it("keeps only paid, unmetered tokens, for its lifetime", () => {
    const cache = new RootKeyCache(1_000);
    cache.enabled = true;
    cache.offer("paid", lookup(), 0);
    cache.offer("unpaid", lookup({ paid: false }), 0);
    cache.offer("metered", lookup({ metered: true }), 0);
    cache.offer("revoked", { found: "revoked", token: {} as TokenRecord }, 0);
    expect(cache.get("paid", 500)?.found).toBe("active");
    expect(cache.get("unpaid", 500)).toBeUndefined();
    expect(cache.get("metered", 500)).toBeUndefined();
    expect(cache.get("revoked", 500)).toBeUndefined();
    expect(cache.get("paid", 1_000)).toBeUndefined();
  });

  it("is bypassed while revocations cannot be heard, and cleared by one", () => {
    const cache = new RootKeyCache(60_000);
    cache.offer("k", lookup(), 0);
    expect(cache.get("k", 1)).toBeUndefined();
    cache.enabled = true;
    cache.offer("k", lookup(), 0);
    expect(cache.get("k", 1)).toBeDefined();
    cache.clear();
    expect(cache.get("k", 1)).toBeUndefined();
  });

  it("is off with a lifetime of 0", () => {
    const cache = new RootKeyCache(0);
    cache.enabled = true;
    cache.offer("k", lookup(), 0);
    expect(cache.get("k", 0)).toBeUndefined();
  });
});

describe("store unavailability", () => {
  const withCode = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});

  it("recognises connection failures and PostgreSQL's connection SQLSTATEs", () => {
    expect(isUnavailable(withCode("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED"))).toBe(true);
    expect(isUnavailable(withCode("timeout exceeded when trying to connect"))).toBe(true);
    expect(isUnavailable(withCode("terminating connection due to administrator command", "57P01"))).toBe(true);
    expect(isUnavailable(withCode("connection failure", "08006"))).toBe(true);
    expect(isUnavailable(withCode("canceling statement due to statement timeout", "57014"))).toBe(true);
  });

  it("leaves statement errors alone", () => {
    expect(isUnavailable(withCode('duplicate key value violates unique constraint "tokens_pkey"', "23505"))).toBe(
      false,
    );
    expect(isUnavailable(withCode('relation "nope" does not exist', "42P01"))).toBe(false);
    expect(isUnavailable("not an error")).toBe(false);
  });
});
