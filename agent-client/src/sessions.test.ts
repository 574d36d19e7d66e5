import { describe, expect, it } from "vitest";
import { challengeNeedsRefresh, openSessionFor } from "./sessions.js";
import { emptyState, type StoredSession } from "./store/state.js";

const NOW = new Date("2026-06-01T00:00:00Z");

function session(id: number, url: string, status: StoredSession["status"] = "open"): StoredSession {
  return {
    origin: new URL(url).origin,
    sessionId: id.toString(16).padStart(64, "0"),
    preimage: "11".repeat(32),
    returnInvoice: "lnbcrt1",
    challenge: { id: "c", realm: "r", method: "lightning", intent: "session", request: "e30" },
    url,
    unitSats: 1,
    paidSats: 10,
    opened: true,
    status,
    createdAt: NOW.toISOString(),
    lastUsedAt: new Date(NOW.getTime() + id).toISOString(),
  };
}

describe("which session a request presents", () => {
  it("only an open session of the same origin and path scope: a server may bind a session to one service", () => {
    const state = emptyState();
    state.sessions.push(
      session(1, "https://api.test/v1/chat/completions"),
      session(2, "https://api.test/weather/today"),
      session(3, "https://api.test/v1/echo", "closed"),
      session(4, "https://other.test/v1/echo"),
    );
    expect(openSessionFor(state, "https://api.test", "/v1/")?.sessionId).toBe(session(1, "https://a.b/").sessionId);
    expect(openSessionFor(state, "https://api.test", "/weather/")?.sessionId).toBe(
      session(2, "https://a.b/").sessionId,
    );
    expect(openSessionFor(state, "https://api.test", "/docs/")).toBeUndefined();
  });

  it("refreshes a challenge within a minute of its expiry, or one whose expiry cannot be read", () => {
    const challenge = { id: "c", realm: "r", method: "lightning", intent: "session", request: "e30" };
    const at = (ms: number) => new Date(NOW.getTime() + ms).toISOString().replace(/\.\d{3}Z$/, "Z");
    expect(challengeNeedsRefresh({ ...challenge, expires: at(10 * 60_000) }, NOW)).toBe(false);
    expect(challengeNeedsRefresh({ ...challenge, expires: at(30_000) }, NOW)).toBe(true);
    expect(challengeNeedsRefresh({ ...challenge, expires: "soon" }, NOW)).toBe(true);
    expect(challengeNeedsRefresh(challenge, NOW)).toBe(false);
  });
});
