import { describe, expect, it } from "vitest";
import { composeBudget, DEFAULT_BUDGET, receiptCost, spending } from "./budget.js";
import { emptyState, type Receipt } from "./store/state.js";

const NOW = new Date("2026-12-01T12:00:00Z");

function receipt(overrides: Partial<Receipt>): Receipt {
  return {
    paymentHash: "ab".repeat(32),
    origin: "https://api.test",
    service: "",
    amountSats: 900,
    feeSats: 2,
    maxFeeSats: 10,
    status: "succeeded",
    invoice: "lnbcrt1",
    macaroon: "",
    scheme: "L402",
    paid: "session",
    createdAt: "2026-12-01T11:30:00.000Z",
    settledAt: "2026-12-01T11:30:01.000Z",
    error: null,
    owner: { pid: 1, hostname: "h" },
    ...overrides,
  };
}

describe("budget composition", () => {
  it("keeps the default hourly and daily budgets unless a global limit is set", () => {
    expect(composeBudget({})).toEqual(DEFAULT_BUDGET);
    expect(composeBudget({ perOriginSats: 50 })).toEqual({ ...DEFAULT_BUDGET, perOriginSats: 50 });
    expect(composeBudget({ perOriginSats: 50, hourlySats: undefined })).toEqual({
      ...DEFAULT_BUDGET,
      perOriginSats: 50,
    });
    expect(composeBudget({ totalSats: 100 })).toEqual({ totalSats: 100 });
    expect(composeBudget({ hourlySats: 5_000, perOriginSats: 50 })).toEqual({ hourlySats: 5_000, perOriginSats: 50 });
  });
});

describe("what a session deposit costs", () => {
  const refund = (receivedSats: number | null, status: "pending" | "succeeded") => ({
    announcedSats: 700,
    receivedSats,
    status,
    returnInvoice: "lnbcrt1return",
    closedAt: "2026-12-01T11:50:00.000Z",
  });

  it("counts in full until the refund reaches the wallet, then releases what came back", () => {
    expect(receiptCost(receipt({}))).toBe(902);
    // Announced is not received.
    expect(receiptCost(receipt({ refund: refund(null, "pending") }))).toBe(902);
    expect(receiptCost(receipt({ refund: refund(700, "succeeded") }))).toBe(202);
    // Top-ups refunded beyond the deposit release no more than the deposit cost.
    expect(receiptCost(receipt({ refund: refund(5_000, "succeeded") }))).toBe(0);
    const state = { ...emptyState(), receipts: [receipt({ refund: refund(700, "succeeded") })] };
    expect(spending(state, NOW)).toMatchObject({ lastHourSats: 202, totalSats: 202 });
  });
});
