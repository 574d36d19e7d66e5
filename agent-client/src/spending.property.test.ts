import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkProperty } from "../../test/support/fuzz-seed.js";
import { createL402Client, type L402Client } from "./client.js";
import { L402ClientError } from "./errors.js";
import { MemoryStore } from "./store/memory.js";
import type { ClientState } from "./store/state.js";
import { FakeGateway, FakeLightning, InFlightWallet } from "./test-support/fakes.js";

const BUDGET_SATS = 100;
const PRICE_SATS = 40;
const MAX_FEE_SATS = 5;
const PAYMENT_TIMEOUT_MS = 60_000;
const ORIGINS = ["https://a.test", "https://b.test", "https://c.test"];

/** One step of a run: the agent calls, the wallet and its transport act, the client crashes, time passes. */
type Step =
  | { readonly kind: "call"; readonly origin: number; readonly service: number }
  /** A pay request on its way reaches the wallet (remote wallets; reordered by index). */
  | { readonly kind: "arrive"; readonly index: number }
  /** A request that reached the wallet reaches it again (a replay). */
  | { readonly kind: "replayRequest"; readonly index: number }
  /** A payment in flight succeeds or fails. */
  | { readonly kind: "finish"; readonly index: number; readonly succeeded: boolean }
  /** A queued reply reaches the payer (reordered by index), twice, or never. */
  | { readonly kind: "reply"; readonly index: number; readonly how: "deliver" | "duplicate" | "drop" }
  /** An outstanding pay gives up waiting: the wallet reports payment_timeout. */
  | { readonly kind: "timeout"; readonly index: number }
  /** The client process dies (its pay calls never return) and a new client opens the same store. */
  | { readonly kind: "crash" }
  | { readonly kind: "resolve" }
  | { readonly kind: "forgetTokens" }
  | { readonly kind: "lookups"; readonly down: boolean }
  | { readonly kind: "advance"; readonly ms: number };

const index = fc.nat({ max: 7 });
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("call" as const),
      origin: fc.nat({ max: 2 }),
      service: fc.nat({ max: 1 }),
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("arrive" as const), index }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("replayRequest" as const), index }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("finish" as const), index, succeeded: fc.boolean() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("reply" as const),
      index,
      how: fc.constantFrom("deliver" as const, "duplicate" as const, "drop" as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("timeout" as const), index }) },
  { weight: 1, arbitrary: fc.constant({ kind: "crash" as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: "resolve" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "forgetTokens" as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("lookups" as const), down: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      ms: fc.constantFrom(1_000, PAYMENT_TIMEOUT_MS, 5 * PAYMENT_TIMEOUT_MS),
    }),
  },
);

/** A MemoryStore that counts its writes, so that a run can tell when nothing moves any more. */
class CountingStore extends MemoryStore {
  writes = 0;
  override async update<T>(mutate: (state: ClientState) => T): Promise<T> {
    this.writes++;
    return super.update(mutate);
  }
}

/** What the runs did, so that the property is seen to be exercised and not vacuously true. */
const counters = () => ({ succeeded: 0, failed: 0, refusedAlreadyPaid: 0, budgetRefusals: 0, pendingAtEnd: 0 });
const tally = { local: counters(), remote: counters() };

async function run(remote: boolean, steps: readonly Step[]): Promise<void> {
  const seen = tally[remote ? "remote" : "local"];
  let clock = Date.now();
  const now = () => new Date(clock);
  const lightning = new FakeLightning();
  const gateway = new FakeGateway(lightning, [
    { name: "s0", prefix: "/s0/", priceSats: PRICE_SATS },
    { name: "s1", prefix: "/s1/", priceSats: PRICE_SATS },
  ]);
  gateway.invoiceExpirySeconds = 7 * 24 * 3600;
  const wallet = new InFlightWallet(lightning, remote, now);
  const store = new CountingStore();
  const open = (): L402Client =>
    createL402Client({
      wallet,
      store,
      fetch: gateway.fetch,
      now,
      budget: { totalSats: BUDGET_SATS },
      maxCostSats: BUDGET_SATS,
      maxFeeSats: MAX_FEE_SATS,
      paymentTimeoutMs: PAYMENT_TIMEOUT_MS,
    });
  let client = open();
  const calls: Promise<void>[] = [];
  let settled = 0;

  /** Lets the client run until nothing moves: no store write, wallet call or call ending for a while. */
  const quiesce = async () => {
    let last = -1;
    let still = 0;
    for (let turn = 0; turn < 2_000 && still < 20; turn++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      const signature = store.writes + wallet.activity + settled;
      still = signature === last ? still + 1 : 0;
      last = signature;
    }
  };

  const check = async () => {
    const state = await store.read();
    // The guarantee: what the wallet sent or committed never exceeds the budget...
    expect(wallet.spentSats()).toBeLessThanOrEqual(BUDGET_SATS);
    // ...and no payment the wallet made (or may still make) is on the books as failed.
    for (const receipt of state.receipts) {
      if (receipt.status !== "failed") continue;
      const made = wallet.payments.get(receipt.paymentHash)?.state;
      expect(made === "succeeded" || made === "in_flight", `${receipt.paymentHash} failed in the store`).toBe(false);
    }
  };

  const pick = <T>(items: readonly T[], at: number): T | undefined =>
    items.length === 0 ? undefined : items[at % items.length];

  for (const action of steps) {
    switch (action.kind) {
      case "call": {
        const url = `${ORIGINS[action.origin]}/s${action.service}/x`;
        calls.push(
          client.fetch(url).then(
            async (response) => {
              await response.arrayBuffer();
              settled++;
            },
            (error: unknown) => {
              settled++;
              if (error instanceof Error && /budget/.test(error.message)) seen.budgetRefusals++;
            },
          ),
        );
        break;
      }
      case "arrive": {
        const attempt = pick(wallet.requests, action.index);
        if (attempt) {
          wallet.requests.splice(wallet.requests.indexOf(attempt), 1);
          wallet.receive(attempt);
        }
        break;
      }
      case "replayRequest": {
        // Only a remote wallet's requests travel through something (a relay) that can replay them.
        const attempt = wallet.remote ? pick(wallet.arrived, action.index) : undefined;
        if (attempt) wallet.receive(attempt);
        break;
      }
      case "finish": {
        const inFlight = [...wallet.payments].filter(([, payment]) => payment.state === "in_flight");
        const chosen = pick(inFlight, action.index);
        if (chosen) wallet.finish(chosen[0], action.succeeded);
        break;
      }
      case "reply": {
        const reply = pick(wallet.replies, action.index);
        if (!reply) break;
        if (action.how !== "duplicate") wallet.replies.splice(wallet.replies.indexOf(reply), 1);
        if (action.how !== "drop") {
          if (reply.outcome instanceof Error && /already paid/.test(reply.outcome.message)) seen.refusedAlreadyPaid++;
          reply.attempt.answer(reply.outcome);
        }
        break;
      }
      case "timeout": {
        const attempt = pick([...wallet.outstanding], action.index);
        attempt?.answer(
          new L402ClientError("payment_timeout", "no outcome in time", { paymentHash: attempt.order.paymentHash }),
        );
        break;
      }
      case "crash": {
        for (const attempt of [...wallet.outstanding]) attempt.answer(new Error("the process died"));
        await quiesce();
        client = open();
        break;
      }
      case "resolve":
        await client.resolvePending();
        break;
      case "forgetTokens":
        await client.removeTokens();
        break;
      case "lookups":
        wallet.lookupsDown = action.down;
        break;
      case "advance":
        clock += action.ms;
        // A wallet's pay ends within its timeout: past it, the outcome is reported unknown.
        for (const attempt of [...wallet.outstanding]) {
          if (attempt.expiresAt < clock) {
            attempt.answer(
              new L402ClientError("payment_timeout", "no outcome in time", { paymentHash: attempt.order.paymentHash }),
            );
          }
        }
        break;
    }
    await quiesce();
    await check();
  }

  // Let every call end (a wallet that never answers would hold them forever), then check once more.
  const ended = Promise.all(calls).then(() => true);
  while (!(await Promise.race([ended, quiesce().then(() => false)]))) {
    for (const attempt of [...wallet.outstanding]) attempt.answer(new Error("the process died"));
  }
  await check();
  const receipts = (await store.read()).receipts;
  seen.succeeded += receipts.filter((receipt) => receipt.status === "succeeded").length;
  seen.failed += receipts.filter((receipt) => receipt.status === "failed").length;
  seen.pendingAtEnd += receipts.filter((receipt) => receipt.status === "pending").length;
}

describe("the spending guarantee under any interleaving of wallet replies, crashes and restarts", () => {
  for (const remote of [false, true]) {
    it(`${remote ? "a remote wallet (NWC-like)" : "a local wallet (LND-like)"}: the wallet never pays past the budget, and the store never calls a made payment failed`, async () => {
      await checkProperty(
        `spending guarantee, ${remote ? "remote" : "local"} wallet`,
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => run(remote, steps)),
        150,
      );
      // The runs paid, failed, hit the budget (and, remote, had replays refused): the property was put to work.
      const seen = tally[remote ? "remote" : "local"];
      console.log(`spending guarantee, ${remote ? "remote" : "local"} wallet, over all runs:`, seen);
      expect(seen.succeeded).toBeGreaterThan(0);
      expect(seen.budgetRefusals).toBeGreaterThan(0);
      // A remote failure is believed only after its request expired, which random runs seldom reach: the example
      // below shows it; random runs show refused replays instead.
      if (remote) expect(seen.refusedAlreadyPaid).toBeGreaterThan(0);
      else expect(seen.failed).toBeGreaterThan(0);
    }, 300_000);
  }
});

describe("a remote wallet's failure (NWC-like)", () => {
  it("is believed only once the pay request has expired: a replay before that could still pay", async () => {
    let clock = Date.now();
    const now = () => new Date(clock);
    const lightning = new FakeLightning();
    const gateway = new FakeGateway(lightning, [{ name: "s0", prefix: "/s0/", priceSats: PRICE_SATS }]);
    const wallet = new InFlightWallet(lightning, true, now);
    const store = new MemoryStore();
    const client = createL402Client({
      wallet,
      store,
      fetch: gateway.fetch,
      now,
      budget: { totalSats: BUDGET_SATS },
      maxFeeSats: MAX_FEE_SATS,
      paymentTimeoutMs: PAYMENT_TIMEOUT_MS,
    });
    const call = client.fetch(`${ORIGINS[0]}/s0/x`).catch((error: unknown) => error);
    await expect.poll(() => wallet.requests.length).toBe(1);
    const [attempt] = wallet.requests.splice(0);
    if (!attempt) throw new Error("no request");
    wallet.receive(attempt);
    wallet.finish(attempt.order.paymentHash, false);
    const [reply] = wallet.replies.splice(0);
    reply?.attempt.answer(reply.outcome);
    expect(await call).toMatchObject({ code: "payment_timeout" });
    expect((await store.read()).receipts).toMatchObject([{ status: "pending" }]);

    // Replayed before its expiration, the request is paid after all: the receipt was rightly kept pending.
    wallet.receive(attempt);
    expect(wallet.payments.get(attempt.order.paymentHash)?.state).toBe("in_flight");
    wallet.finish(attempt.order.paymentHash, false);
    expect(await client.resolvePending()).toHaveLength(1);

    // Past the request's expiration no replay is acted on, and the failure is believed.
    clock += PAYMENT_TIMEOUT_MS + 10_000;
    wallet.receive(attempt);
    expect(wallet.payments.get(attempt.order.paymentHash)?.state).toBe("failed");
    // The wallet service's clock may lag ours: the failure is believed a minute after the request expired.
    expect(await client.resolvePending()).toHaveLength(1);
    clock += 60_000;
    wallet.receive(attempt);
    expect(wallet.payments.get(attempt.order.paymentHash)?.state).toBe("failed");
    expect(await client.resolvePending()).toEqual([]);
    expect((await store.read()).receipts).toMatchObject([{ status: "failed" }]);
    expect((await client.budget()).spent.totalSats).toBe(0);
  });
});
