import fc from "fast-check";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { makeInvoice } from "../../../agent-client/src/test-support/invoices.js";
import { parseConfig } from "../config/load.js";
import { GatewayMetrics } from "../metrics/metrics.js";
import { SqliteTokenStore } from "../store/sqlite.js";
import { newToken, newTopUp } from "../store/token-store.suite.js";
import { LndPaymentsDouble } from "../test-support/lnd-payments-double.js";
import { Refunds } from "./refunds.js";

const caps = {
  ...parseConfig({
    lnd: { socket: "127.0.0.1:1", cert: "x", macaroon: "x" },
    store: { path: ":memory:" },
    services: [{ name: "llm", match: { pathPrefix: "/" }, upstream: "http://127.0.0.1:1", price: { sats: 1 } }],
  }).refunds,
  perMinute: 1e6,
  burst: 1e6,
};

type Op =
  | { readonly kind: "close"; readonly newInvoice: boolean }
  | { readonly kind: "retry"; readonly newInvoice: boolean }
  | { readonly kind: "charge"; readonly msat: number }
  | { readonly kind: "topup"; readonly sats: number }
  | { readonly kind: "reconcile" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("close" as const), newInvoice: fc.boolean() }),
  fc.record({ kind: fc.constant("retry" as const), newInvoice: fc.boolean() }),
  fc.record({ kind: fc.constant("charge" as const), msat: fc.integer({ min: 1, max: 6_000 }) }),
  fc.record({ kind: fc.constant("topup" as const), sats: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ kind: fc.constant("reconcile" as const) }),
);

/**
 * Random interleavings of closes, retries (with and without a new invoice), bearer calls (charges), top-ups and a
 * second process's reconciliation on one account, against an LND double with an in-flight window (unknown, then in
 * flight, then settled or failed, each step a point where fast-check's scheduler may run anything else). After every
 * step: LND paid out no more than the account was owed, at most one payment is in flight or done, and a refund the
 * store calls succeeded is exactly one payment LND made.
 */
describe("refunds under random interleavings", () => {
  it("pay an account's balance at most once, and exactly once when the store says succeeded", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(opArb, { minLength: 1, maxLength: 10 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
        async (s, ops, settles) => {
          let ended = 0;
          const payer = new LndPaymentsDouble({
            gate: (step, hash) => s.schedule(Promise.resolve(), `${step} ${hash.slice(0, 6)}`),
            outcome: (hash) => {
              const settle = settles[ended++ % settles.length];
              return s.schedule(Promise.resolve(settle ? "succeeded" : "failed"), `end ${hash.slice(0, 6)}`);
            },
          });
          const store = new SqliteTokenStore(":memory:");
          const log = pino({ level: "silent" });
          const metrics = new GatewayMetrics(["llm"]);
          const refunds = new Refunds({ store, payer, caps, metrics, log });
          const replica = new Refunds({ store, payer, caps, metrics, log });
          const minted = newToken({ priceSats: 20, metered: true, invoice: makeInvoice({ amountSats: 20 }).invoice });
          await store.insertToken(minted);
          await store.markPaid(minted.paymentHash, new Date());
          const tokenId = minted.tokenId;
          const given: string[] = [];
          const invoice = (fresh: boolean) => {
            const last = given.at(-1);
            if (!fresh && last !== undefined) return last;
            const made = makeInvoice({ amountSats: 0 }).invoice;
            given.push(made);
            return made;
          };
          const current = async () => {
            const token = await store.getToken(tokenId);
            if (!token) throw new Error("the account is gone");
            return token;
          };

          const violations = async (quiescent: boolean): Promise<string[]> => {
            const found: string[] = [];
            const token = await current();
            const { account } = token;
            const { balanceMsat, reservedMsat, chargedMsat, refundedMsat, creditedMsat } = account;
            if (creditedMsat !== balanceMsat + reservedMsat + chargedMsat + refundedMsat) found.push("ledger");
            const hashes = new Set(await store.refundPaymentHashes(tokenId));
            const mine = payer.payments.filter((p) => hashes.has(p.paymentHash));
            if (mine.length !== payer.payments.length) found.push("LND paid a hash that is no refund invoice");
            const paidOut = payer.paidOut(hashes);
            if (paidOut > refundedMsat) found.push(`paid ${paidOut} msat, owed ${refundedMsat}`);
            const live = mine.filter((p) => p.state !== "failed");
            if (live.length > 1) found.push(`${live.length} payments in flight or done`);
            const refund = await store.getRefund(tokenId);
            const succeeded = mine.filter((p) => p.state === "succeeded");
            if (refund?.status === "succeeded") {
              if (succeeded.length !== 1 || succeeded[0]?.paymentHash !== refund.paymentHash) {
                found.push(`succeeded in the store, ${succeeded.length} payments on LND`);
              }
            }
            if (quiescent && refund?.status !== "succeeded" && succeeded.length > 0) {
              found.push(`LND paid, the store says ${refund?.status}`);
            }
            if (quiescent && refund?.status === "pending") found.push("pending while idle");
            return found;
          };

          const run = async (op: Op): Promise<void> => {
            switch (op.kind) {
              case "close":
                await refunds.close(await current(), invoice(op.newInvoice));
                return;
              case "retry":
                await refunds.close(await current(), op.newInvoice ? invoice(true) : undefined);
                return;
              case "charge": {
                const reservation = await store.reserve(tokenId, op.msat, new Date());
                if (!reservation.ok) return;
                await s.schedule(Promise.resolve(), "bearer call answered");
                const charge = { amountMsat: op.msat, service: "llm", model: "-", reason: "fixed" };
                await store.closeReservation(reservation.id, charge, new Date());
                return;
              }
              case "topup": {
                const topUp = newTopUp(tokenId, op.sats);
                await store.insertTopUp(topUp);
                await store.markPaid(topUp.paymentHash, new Date());
                return;
              }
              case "reconcile":
                await replica.reconcile();
                return;
            }
          };

          const drive = async (work: Promise<unknown>) => {
            let done = false;
            void work.finally(() => {
              done = true;
            });
            for (let steps = 0; !done; steps++) {
              if (steps > 10_000) throw new Error("the interleaving never ended");
              if (s.count() > 0) {
                await s.waitOne();
                expect(await violations(false)).toEqual([]);
              } else {
                await new Promise((resolve) => setImmediate(resolve));
              }
            }
            await work;
          };

          await drive(Promise.all(ops.map((op) => s.schedule(Promise.resolve(), op.kind).then(() => run(op)))));
          // Quiet: every attempt has ended, LND has answered; reconciliation leaves nothing pending.
          await drive(refunds.reconcile());
          expect(await violations(true)).toEqual([]);
          await store.close();
        },
      ),
      { numRuns: 400 },
    );
  }, 120_000);
});
