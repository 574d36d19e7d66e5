import { describe, expect, it } from "vitest";
import { MAX_FAILED_RECEIPTS, MAX_TOKENS_PER_ORIGIN, pruneStore } from "./prune.js";
import { emptyState, type Receipt, type StoredToken } from "./store/state.js";

const NOW = new Date("2026-06-01T00:00:00Z");
const hash = (i: number) => i.toString(16).padStart(64, "0");
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();

function receipt(i: number, status: Receipt["status"], ageMs: number): Receipt {
  return {
    paymentHash: hash(i),
    origin: "https://evil.test",
    service: `s${i}`,
    amountSats: 5,
    feeSats: status === "succeeded" ? 0 : null,
    maxFeeSats: 1,
    status,
    invoice: "lnbcrt1",
    macaroon: "AgE=",
    scheme: "L402",
    paid: "l402",
    createdAt: ago(ageMs),
    settledAt: status === "pending" ? null : ago(ageMs),
    error: null,
    owner: { pid: 1, hostname: "h" },
  };
}

function token(i: number, origin: string, ageMs: number, validUntil: number | null = null): StoredToken {
  return {
    origin,
    service: `throwaway-${i}`,
    macaroon: "AgE=",
    scheme: "L402",
    preimage: hash(i),
    paymentHash: hash(i),
    validUntil,
    createdAt: ago(ageMs),
    lastUsedAt: ago(ageMs),
  };
}

describe("pruneStore", () => {
  it("drops old and surplus failed receipts, never succeeded or pending ones", () => {
    const state = emptyState();
    const week = 7 * 24 * 3_600_000;
    state.receipts.push(
      receipt(1, "failed", week + 1),
      receipt(2, "succeeded", 10 * week),
      receipt(3, "pending", 10 * week),
    );
    for (let i = 0; i < MAX_FAILED_RECEIPTS + 20; i++) state.receipts.push(receipt(100 + i, "failed", 1000 * i));
    pruneStore(state, NOW);
    const failed = state.receipts.filter((kept) => kept.status === "failed");
    expect(failed).toHaveLength(MAX_FAILED_RECEIPTS);
    expect(failed.map((kept) => kept.paymentHash)).toContain(hash(100));
    expect(failed.map((kept) => kept.paymentHash)).not.toContain(hash(1));
    expect(state.receipts.map((kept) => kept.status)).toContain("succeeded");
    expect(state.receipts.map((kept) => kept.status)).toContain("pending");
  });

  it("keeps the most recently used tokens per origin and drops expired ones", () => {
    const state = emptyState();
    for (let i = 0; i < MAX_TOKENS_PER_ORIGIN + 10; i++) state.tokens.push(token(i, "https://evil.test", 1000 * i));
    state.tokens.push(token(500, "https://good.test", 10 ** 9));
    state.tokens.push(token(501, "https://good.test", 0, Math.floor(NOW.getTime() / 1000) - 1));
    pruneStore(state, NOW);
    const evil = state.tokens.filter((kept) => kept.origin === "https://evil.test");
    expect(evil).toHaveLength(MAX_TOKENS_PER_ORIGIN);
    expect(evil.map((kept) => kept.paymentHash)).toContain(hash(0));
    expect(state.tokens.filter((kept) => kept.origin === "https://good.test").map((kept) => kept.paymentHash)).toEqual([
      hash(500),
    ]);
  });
});
