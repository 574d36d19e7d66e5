import { statSync } from "node:fs";
import { createL402Client, createL402Fetch, FileStore, L402ClientError } from "@l402-gateway/agent-client";
import type { RunningGateway } from "@l402-gateway/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type TestUpstream } from "../support/upstream.js";
import {
  added,
  aliceSettledHashes,
  bobChannelBalanceMsat,
  bobPaymentHashes,
  bobWallet,
  codeOf,
  crashingAfterSend,
  LLM_PRICE_SATS,
  startTestGateway,
  tempStorePath,
  WEATHER_PRICE_SATS,
} from "./support.js";

describe("the agent client pays the real gateway on regtest", () => {
  let upstream: TestUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startUpstream();
    gateway = await startTestGateway(upstream.url);
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("pays once, then reuses the cached token: one payment on bob's LND", async () => {
    const before = await bobPaymentHashes();
    const settledBefore = await aliceSettledHashes();
    const l402fetch = createL402Fetch({ wallet: bobWallet() });

    const first = await l402fetch(`${gateway.url}/v1/echo`, { method: "POST", body: "first" });
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ method: "POST", body: "first" });
    const second = await l402fetch(`${gateway.url}/v1/echo`, { method: "POST", body: "second" });
    expect(second.status).toBe(200);
    expect(await second.json()).toMatchObject({ body: "second" });

    const newPayments = added(before, await bobPaymentHashes());
    const receipts = await l402fetch.client.receipts();
    expect(receipts).toHaveLength(1);
    expect(receipts[0]).toMatchObject({ status: "succeeded", amountSats: LLM_PRICE_SATS, service: "llm" });
    expect(newPayments).toEqual([receipts[0]?.paymentHash]);
    expect(added(settledBefore, await aliceSettledHashes())).toEqual(newPayments);
    // The credential stays at the gateway.
    expect(upstream.seen.at(-1)?.headers.authorization).toBeUndefined();
  });

  it("keeps a token per service on one origin: alternating calls pay once per service", async () => {
    const before = await bobPaymentHashes();
    const l402 = createL402Client({ wallet: bobWallet() });
    for (let round = 0; round < 2; round++) {
      expect((await l402.fetch(`${gateway.url}/v1/echo`)).status).toBe(200);
      expect((await l402.fetch(`${gateway.url}/weather/paris`)).status).toBe(200);
    }
    expect(added(before, await bobPaymentHashes())).toHaveLength(2);
    const receipts = await l402.receipts();
    expect(receipts.map((receipt) => receipt.amountSats).sort((a, b) => a - b)).toEqual([
      WEATHER_PRICE_SATS,
      LLM_PRICE_SATS,
    ]);
    expect((await l402.tokens()).map((token) => token.service).sort()).toEqual(["llm", "weather"]);
  });

  it("refuses a price above the cap and pays nothing", async () => {
    const before = await bobPaymentHashes();
    const balance = await bobChannelBalanceMsat();
    const l402 = createL402Client({ wallet: bobWallet(), maxCostSats: LLM_PRICE_SATS + 5, maxFeeSats: 10 });
    const error = await l402.fetch(`${gateway.url}/v1/echo`).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(L402ClientError);
    expect(error).toMatchObject({ code: "over_cap", quote: { amountSats: LLM_PRICE_SATS, maxFeeSats: 10 } });
    expect(await l402.receipts()).toEqual([]);
    expect(added(before, await bobPaymentHashes())).toEqual([]);
    expect(await bobChannelBalanceMsat()).toBe(balance);
  });

  it("ten concurrent calls that meet the same 402 pay exactly one invoice", async () => {
    const before = await bobPaymentHashes();
    const settledBefore = await aliceSettledHashes();
    const l402 = createL402Client({ wallet: bobWallet() });
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) => l402.fetch(`${gateway.url}/v1/echo`, { method: "POST", body: `call ${i}` })),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(10).fill(200));
    const bodies = await Promise.all(
      responses.map(async (response) => ((await response.json()) as { body: string }).body),
    );
    expect(bodies.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `call ${i}`).sort());
    const newPayments = added(before, await bobPaymentHashes());
    expect(newPayments).toHaveLength(1);
    expect(added(settledBefore, await aliceSettledHashes())).toEqual(newPayments);
    expect(await l402.receipts()).toHaveLength(1);
  });

  it("a crash after the payment was sent does not pay again: a new client resolves it through LND", async () => {
    const storePath = tempStorePath();
    const before = await bobPaymentHashes();
    // Sends the payment on LND, then dies before the client can record the outcome.
    const doomed = createL402Client({ wallet: crashingAfterSend(bobWallet()), store: new FileStore(storePath) });
    expect(await codeOf(doomed.fetch(`${gateway.url}/v1/echo`))).toBe("payment_timeout");
    const [pending] = (await new FileStore(storePath).read()).receipts;
    expect(pending).toMatchObject({ status: "pending", amountSats: LLM_PRICE_SATS });
    expect(added(before, await bobPaymentHashes())).toEqual([pending?.paymentHash]);

    const restarted = createL402Client({ wallet: bobWallet(), store: new FileStore(storePath) });
    const response = await restarted.fetch(`${gateway.url}/v1/echo`, { method: "POST", body: "after the crash" });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ body: "after the crash" });
    expect(added(before, await bobPaymentHashes())).toEqual([pending?.paymentHash]);
    expect(await restarted.receipts()).toMatchObject([{ status: "succeeded", paymentHash: pending?.paymentHash }]);
    expect((await restarted.tokens()).map((token) => token.paymentHash)).toEqual([pending?.paymentHash]);
  });

  it("an exhausted budget refuses further payments, also for a new client on the same file", async () => {
    const storePath = tempStorePath();
    const before = await bobPaymentHashes();
    const budget = { dailySats: LLM_PRICE_SATS + 10 };
    const l402 = createL402Client({ wallet: bobWallet(), store: new FileStore(storePath), budget, maxFeeSats: 10 });
    expect((await l402.fetch(`${gateway.url}/v1/echo`)).status).toBe(200);
    expect(statSync(storePath).mode & 0o777).toBe(0o600);
    // Forget the token so that the next call needs a new payment.
    await l402.removeTokens();
    expect(await codeOf(l402.fetch(`${gateway.url}/v1/echo`))).toBe("budget_exceeded");

    const restarted = createL402Client({ wallet: bobWallet(), store: new FileStore(storePath), budget });
    expect((await restarted.budget()).spent.lastDaySats).toBeGreaterThanOrEqual(LLM_PRICE_SATS);
    expect(await codeOf(restarted.fetch(`${gateway.url}/v1/echo`))).toBe("budget_exceeded");
    expect(added(before, await bobPaymentHashes())).toHaveLength(1);
  });
});
