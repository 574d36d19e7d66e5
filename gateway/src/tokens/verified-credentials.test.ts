import { describe, expect, it } from "vitest";
import { VerifiedCredentials } from "./verified-credentials.js";

const entry = (rootKeyId: string, validUntilMs = Number.POSITIVE_INFINITY) => ({
  rootKeyId,
  caveats: [],
  validUntilMs,
});

describe("verified credentials cache", () => {
  it("keys by credential, service and capabilities, and has no key without a credential", () => {
    const headers = { authorization: ["L402 a:b"] };
    const key = VerifiedCredentials.keyOf(headers, "llm", ["chat"]);
    expect(key).toBeDefined();
    expect(VerifiedCredentials.keyOf(headers, "weather", ["chat"])).not.toBe(key);
    expect(VerifiedCredentials.keyOf(headers, "llm", [])).not.toBe(key);
    expect(VerifiedCredentials.keyOf({ authorization: ["L402 a:c"] }, "llm", ["chat"])).not.toBe(key);
    expect(VerifiedCredentials.keyOf({ authorization: [], macaroonHeaders: { macaroon: ["ab"] } }, "llm", [])).toBe(
      "llm\n\n\nmacaroon:ab",
    );
    expect(VerifiedCredentials.keyOf({ authorization: [] }, "llm", [])).toBeUndefined();
  });

  it("forgets an entry at its expiry", () => {
    const cache = new VerifiedCredentials();
    cache.remember("k", entry("r", 1_000));
    expect(cache.get("k", 999)?.rootKeyId).toBe("r");
    expect(cache.get("k", 1_000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("stays within its bound, dropping the oldest entry first", () => {
    const cache = new VerifiedCredentials(2);
    cache.remember("a", entry("1"));
    cache.remember("b", entry("2"));
    cache.remember("c", entry("3"));
    expect(cache.size).toBe(2);
    expect(cache.get("a", 0)).toBeUndefined();
    expect(cache.get("c", 0)?.rootKeyId).toBe("3");
    const disabled = new VerifiedCredentials(0);
    disabled.remember("a", entry("1"));
    expect(disabled.get("a", 0)).toBeUndefined();
  });
});
