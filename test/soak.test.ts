import { describe, expect, it } from "vitest";
import { runSoak } from "../bench/soak/soak.js";
import { testNetwork } from "./regtest/context.js";

describe("soak (short form)", () => {
  it("4 agents for 20 s: no unexpected outcome, and the accounting invariant holds", { timeout: 180_000 }, async () => {
    const seed = Number(process.env.SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`soak seed ${seed} (replay with SOAK_SEED=${seed})`);
    const report = await runSoak({ network: testNetwork(), agents: 4, durationMs: 20_000, seed });
    console.log(JSON.stringify({ ...report, verdict: { ok: report.verdict.ok, totals: report.verdict.totals } }));
    expect(report.verdict.violations).toEqual([]);
    expect(report.errors).toEqual({});
    expect(report.payments).toBeGreaterThan(0);
    expect(report.requests).toBeGreaterThan(8);
  });
});
