import { describe, expect, it } from "vitest";
import { emptyState, type StoredToken } from "./store/state.js";
import { chooseToken, pathScope, putToken, rememberRoute, tokenFor } from "./tokens.js";

const NOW = new Date("2030-01-01T00:00:00Z");

function token(overrides: Partial<StoredToken>): StoredToken {
  return {
    origin: "https://api.test",
    service: "llm",
    macaroon: "AgE=",
    scheme: "L402",
    preimage: "00".repeat(32),
    paymentHash: "11".repeat(32),
    validUntil: null,
    createdAt: NOW.toISOString(),
    lastUsedAt: NOW.toISOString(),
    ...overrides,
  };
}

describe("pathScope", () => {
  it("is the first path segment", () => {
    expect(pathScope("/v1/chat/completions")).toBe("/v1/");
    expect(pathScope("/weather/paris")).toBe("/weather/");
    expect(pathScope("/health")).toBe("/health");
    expect(pathScope("/")).toBe("/");
  });
});

describe("choosing a token", () => {
  it("follows the route hint, else the most recent token of the origin, never another origin's", () => {
    const state = emptyState();
    putToken(state, token({ service: "llm", paymentHash: "aa".repeat(32), lastUsedAt: "2029-12-31T00:00:00.000Z" }));
    putToken(state, token({ service: "weather", paymentHash: "bb".repeat(32) }));
    putToken(state, token({ origin: "https://other.test", service: "llm", paymentHash: "cc".repeat(32) }));
    expect(chooseToken(state, "https://api.test", "/v1/", NOW)?.service).toBe("weather");
    rememberRoute(state, "https://api.test", "/v1/", "llm");
    expect(chooseToken(state, "https://api.test", "/v1/", NOW)?.paymentHash).toBe("aa".repeat(32));
    expect(chooseToken(state, "https://nobody.test", "/v1/", NOW)).toBeUndefined();
  });

  it("skips expired and already refused tokens", () => {
    const state = emptyState();
    putToken(state, token({ validUntil: Math.floor(NOW.getTime() / 1000) - 1 }));
    expect(tokenFor(state, "https://api.test", "llm", NOW)).toBeUndefined();
    putToken(state, token({ paymentHash: "dd".repeat(32) }));
    expect(tokenFor(state, "https://api.test", "llm", NOW)?.paymentHash).toBe("dd".repeat(32));
    expect(tokenFor(state, "https://api.test", "llm", NOW, new Set(["dd".repeat(32)]))).toBeUndefined();
  });

  it("keeps one token per origin and service", () => {
    const state = emptyState();
    putToken(state, token({ paymentHash: "aa".repeat(32) }));
    putToken(state, token({ paymentHash: "bb".repeat(32) }));
    putToken(state, token({ paymentHash: "cc".repeat(32), service: "weather" }));
    expect(state.tokens.map((t) => t.paymentHash)).toEqual(["bb".repeat(32), "cc".repeat(32)]);
  });
});
