import { MemoryStore } from "@l402-gateway/agent-client";
import { PAYMENT_RECEIPT_HEADER, parsePaymentReceipt } from "@l402-gateway/l402";
import { getInvoices } from "lightning";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { added, aliceLnd, bobClient, bobLnd, bobPaymentHashes, network } from "./agent-client/support.js";
import { type RunningAperture, startAperture } from "./support/aperture.js";
import { ensureOperatorCanPay } from "./support/operator-liquidity.js";
import { startUpstream, type TestUpstream } from "./support/upstream.js";

const PRICE_SATS = 3;
const DEPOSIT_MULTIPLIER = 4;
const DEPOSIT_SATS = PRICE_SATS * DEPOSIT_MULTIPLIER;

/** Amounts of alice's settled invoices among `hashes`: what Aperture's node received for them. */
async function settledOnAlice(hashes: readonly string[]): Promise<number[]> {
  const wanted = new Set(hashes);
  const amounts: number[] = [];
  let token: string | undefined;
  do {
    const page = await getInvoices({ lnd: aliceLnd, ...(token ? { token } : { limit: 100 }) });
    for (const invoice of page.invoices)
      if (wanted.has(invoice.id) && invoice.is_confirmed) amounts.push(invoice.received);
    token = page.next;
  } while (token);
  return amounts;
}

describe("our agent client pays Aperture v0.5.0 with L402, Payment charge and Payment session (regtest)", () => {
  let upstream: TestUpstream;
  let aperture: RunningAperture;

  beforeAll(async () => {
    // Aperture refunds sessions from alice's node, which holds only what bob paid her.
    await ensureOperatorCanPay(aliceLnd, bobLnd, 10 * DEPOSIT_SATS);
    upstream = await startUpstream();
    aperture = await startAperture({
      node: network.nodes.alice,
      upstream: new URL(upstream.url).host,
      priceSats: PRICE_SATS,
      authScheme: "l402+mpp",
      sessions: true,
      depositMultiplier: DEPOSIT_MULTIPLIER,
    });
  });

  afterAll(async () => {
    await aperture?.kill("SIGTERM");
    await upstream?.close();
  });

  it("offers LSAT, L402, Payment charge and Payment session in one 402, each read by the client", async () => {
    const res = await fetch(`${aperture.url}/v1/echo`);
    expect(res.status).toBe(402);
    await res.body?.cancel();
    const schemes = (res.headers.get("www-authenticate") ?? "").match(/(?:^|, )(LSAT|L402|Payment) /g);
    expect(schemes?.map((scheme) => scheme.replace(", ", "").trim())).toEqual(["LSAT", "L402", "Payment", "Payment"]);
    const quote = await bobClient({ preference: { order: ["charge"] } }).preview(`${aperture.url}/v1/echo`);
    expect(quote).toMatchObject({ scheme: "charge", amountSats: PRICE_SATS });
    const deposit = await bobClient({ preference: { calls: "many" } }).preview(`${aperture.url}/v1/echo`);
    expect(deposit).toMatchObject({ scheme: "session", amountSats: DEPOSIT_SATS });
  });

  it("pays with L402 once and reuses the token", async () => {
    const agent = bobClient({ preference: { order: ["l402"] } });
    const before = await bobPaymentHashes();
    for (let i = 0; i < 3; i++) {
      const res = await agent.fetch(`${aperture.url}/v1/echo?l402=${i}`);
      expect(res.status).toBe(200);
      await res.text();
    }
    const paid = added(before, await bobPaymentHashes());
    expect(paid).toHaveLength(1);
    expect(await settledOnAlice(paid)).toEqual([PRICE_SATS]);
    expect((await agent.receipts()).map((receipt) => receipt.paid)).toEqual(["l402"]);
  });

  it("pays a Payment charge per call: each credential is used once, and Aperture's receipt names the payment", async () => {
    const agent = bobClient({ preference: { order: ["charge"] } });
    const before = await bobPaymentHashes();
    for (let i = 0; i < 2; i++) {
      const res = await agent.fetch(`${aperture.url}/v1/echo?charge=${i}`);
      expect(res.status).toBe(200);
      await res.text();
      const receipt = parsePaymentReceipt(res.headers.get(PAYMENT_RECEIPT_HEADER) ?? "");
      const receipts = await agent.receipts();
      expect(receipt).toMatchObject({ status: "success", method: "lightning", reference: receipts[0]?.paymentHash });
    }
    const paid = added(before, await bobPaymentHashes());
    expect(paid).toHaveLength(2);
    expect(await settledOnAlice(paid)).toEqual([PRICE_SATS, PRICE_SATS]);
    expect((await agent.receipts()).map((receipt) => receipt.paid)).toEqual(["charge", "charge"]);
    expect(await agent.tokens()).toEqual([]);
  });

  it("opens a session, draws on it as bearer, tops it up when it runs out, and closes it for a refund", async () => {
    const store = new MemoryStore();
    const agent = bobClient({ store, preference: { calls: "many" } });
    const before = await bobPaymentHashes();
    const served = upstream.seen.length;
    // Aperture v0.5.0 serves the open request without charging it, then takes the price per bearer request.
    const calls = 1 + DEPOSIT_MULTIPLIER + 1;
    for (let i = 0; i < calls; i++) {
      const res = await agent.fetch(`${aperture.url}/v1/echo?session=${i}`);
      expect(res.status).toBe(200);
      await res.text();
    }
    expect(upstream.seen.length - served).toBe(calls);
    // The deposit, then one top-up when the bearer request found the balance spent; nothing else.
    const paid = added(before, await bobPaymentHashes());
    expect(paid).toHaveLength(2);
    expect(await settledOnAlice(paid)).toEqual([DEPOSIT_SATS, DEPOSIT_SATS]);
    expect((await agent.receipts()).map((receipt) => receipt.paid).sort()).toEqual(["session", "topUp"]);
    const [session] = await agent.sessions();
    expect(session).toMatchObject({ status: "open", opened: true, paidSats: 2 * DEPOSIT_SATS, unitSats: PRICE_SATS });

    // Near its `expires`, Aperture would refuse the echoed challenge: the client first takes a fresh one from an
    // unpaid 402 (a clock 14.5 minutes ahead plays the wait), then calls as bearer, paying nothing new.
    const later = bobClient({ store, now: () => new Date(Date.now() + 14.5 * 60_000) });
    const beforeRefresh = await bobPaymentHashes();
    const refreshed = await later.fetch(`${aperture.url}/v1/echo?refreshed`);
    expect(refreshed.status).toBe(200);
    await refreshed.text();
    expect(added(beforeRefresh, await bobPaymentHashes())).toEqual([]);
    expect((await agent.sessions())[0]?.challenge.id).not.toBe(session?.challenge.id);

    // Spent: the price of each bearer call (the open and the top-up were not charged).
    const spent = (DEPOSIT_MULTIPLIER + 1) * PRICE_SATS;
    const [closed] = await agent.closeSessions();
    expect(closed).toMatchObject({
      sessionId: session?.sessionId,
      refund: { status: "succeeded", receivedSats: 2 * DEPOSIT_SATS - spent },
    });
    const deposit = (await agent.receipts()).find((receipt) => receipt.paid === "session");
    expect(deposit?.refund).toMatchObject({ status: "succeeded", receivedSats: 2 * DEPOSIT_SATS - spent });
    expect((await agent.sessions())[0]?.status).toBe("closed");

    // A closed session is never presented again: the next call opens a new one, whose whole deposit comes back.
    const after = await bobPaymentHashes();
    const res = await agent.fetch(`${aperture.url}/v1/echo?after`);
    expect(res.status).toBe(200);
    await res.text();
    expect(added(after, await bobPaymentHashes())).toHaveLength(1);
    expect((await agent.sessions()).map((stored) => stored.status)).toEqual(["closed", "open"]);
    const [second] = await agent.closeSessions();
    expect(second?.refund).toMatchObject({ status: "succeeded", receivedSats: DEPOSIT_SATS });
  });
});
