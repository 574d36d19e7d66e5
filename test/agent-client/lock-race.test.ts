import { writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { FileStore } from "@l402-gateway/agent-client";
import { describe, expect, it } from "vitest";
import { raceChildren } from "../../agent-client/src/test-support/processes.js";
import { added, bobPaymentHashes, network, tempStorePath, useTestGateway, WEATHER_PRICE_SATS } from "./support.js";

const CHILD = join(import.meta.dirname, "race-child.ts");
const ROUNDS = 10;
const PROCESSES = 6;
/** Above Linux's pid_max: the process that left the lock is certainly dead. */
const DEAD_PID = 2 ** 22 + 1;

describe("processes racing on one store after a crash left its lock behind", () => {
  const running = useTestGateway();

  it(`never pay past the budget: ${ROUNDS} rounds of ${PROCESSES} processes, payments counted on bob's LND`, async () => {
    const env = {
      ...process.env,
      L402_LND_SOCKET: network.nodes.bob.socket,
      L402_LND_CERT: network.nodes.bob.cert,
      L402_LND_MACAROON: network.nodes.bob.adminMacaroon,
    };
    const rounds: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const storePath = tempStorePath();
      // Room for exactly one payment (max fee 0), then a crash that left the lock file behind.
      await new FileStore(storePath).update((state) => {
        state.budgetLimits = { totalSats: WEATHER_PRICE_SATS };
      });
      const lock = { pid: DEAD_PID, thread: 0, hostname: hostname(), nonce: `crashed-${round}` };
      writeFileSync(`${storePath}.lock`, JSON.stringify(lock));
      const before = await bobPaymentHashes();
      const results = await raceChildren(
        CHILD,
        Array.from({ length: PROCESSES }, () => [`${running.gateway.url}/weather/paris`, storePath]),
        env,
      );
      const paid = added(before, await bobPaymentHashes());
      const outcomes = results.map((result) => /"outcome":"([^"]+)"/.exec(result.stdout)?.[1] ?? result.stderr);
      const recorded = (await new FileStore(storePath).read()).receipts.filter(
        (receipt) => receipt.status !== "failed" && paid.includes(receipt.paymentHash),
      );
      rounds.push(`round ${round}: ${paid.length} paid, ${recorded.length} recorded (${outcomes.sort().join(", ")})`);
    }
    // Each round: exactly one payment (the budget's room), recorded, one call served, the others refused unpaid.
    const expected = /^round \d+: 1 paid, 1 recorded \(200(, (budget_exceeded|payment_pending)){5}\)$/;
    expect(rounds.filter((summary) => !expected.test(summary))).toEqual([]);
  }, 600_000);
});
