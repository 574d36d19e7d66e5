import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatAuthorization } from "@l402-gateway/l402";
import Database from "better-sqlite3";
import {
  cancelHodlInvoice,
  createHodlInvoice,
  createInvoice,
  getChannels,
  getInvoice,
  getPendingPayments,
  grantAccess,
  pay,
  settleHodlInvoice,
} from "lightning";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { testNetwork } from "./regtest/context.js";
import { NodeControl } from "./regtest/control.js";
import { gatewayLndConfig, lndClient } from "./regtest/network-file.js";
import { checkAccounting, nodePayments } from "./support/accounting.js";
import { ensureOperatorCanPay } from "./support/operator-liquidity.js";
import { startGatewayProcess } from "./support/supervised.js";
import { startUpstream, type TestUpstream } from "./support/upstream.js";

const network = testNetwork();
const alice = lndClient(network.nodes.alice);
const bob = lndClient(network.nodes.bob);
const DEPOSIT_MSAT = 30_000;
/** Closes and retries that arrive while bob holds the refund's HTLC. */
const CONCURRENT = 6;

interface RefundBody {
  token_id: string;
  refund: { amount_msat: number; status: string; payment_hash: string; attempts: number; in_flight: boolean };
}

/** Hold invoices made by the current test: cancelled after it unless settled, so no HTLC stays stuck on the channel. */
const holdsMade: string[] = [];

/** A hold invoice on bob's node: bob accepts the HTLC and keeps it until the test settles or cancels it. */
async function holdInvoice(tokens = DEPOSIT_MSAT / 1000) {
  const secret = randomBytes(32).toString("hex");
  const id = createHash("sha256").update(Buffer.from(secret, "hex")).digest("hex");
  const invoice = await createHodlInvoice({ lnd: bob, id, tokens, description: "held refund" });
  holdsMade.push(id);
  return { id, secret, request: invoice.request };
}

async function bobInvoice(): Promise<{ request: string; id: string }> {
  const invoice = await createInvoice({ lnd: bob, description: "refund" });
  return { request: invoice.request, id: invoice.id };
}

/** Waits (on bob's record, not on time) until bob holds the HTLC of `id`: the refund is in flight. */
async function heldByBob(id: string): Promise<void> {
  await expect
    .poll(async () => (await getInvoice({ lnd: bob, id })).is_held, { timeout: 60_000, interval: 200 })
    .toBe(true);
}

/**
 * Refunds pay exactly once on a real network: bob holds the refund's HTLC (a hold invoice) while closes and retries
 * arrive, the gateway process is killed and restarted, alice's LND restarts mid-payment. Each test ends with the
 * accounting invariant read from LND's own payments list.
 */
describe("refunds pay exactly once (regtest)", () => {
  let upstream: TestUpstream;
  let gateway: Awaited<ReturnType<typeof startGatewayProcess>>;
  const dir = mkdtempSync(join(tmpdir(), "gw-refund-once-"));
  const storePath = join(dir, "gateway.sqlite");
  const configFile = join(dir, "gateway.yaml");

  beforeAll(async () => {
    upstream = await startUpstream();
    const refundMacaroon = (await grantAccess({ lnd: alice, permissions: ["offchain:read", "offchain:write"] }))
      .macaroon;
    // Refunds are paid from alice's side of the channel bob opened.
    await ensureOperatorCanPay(alice, bob, 50_000);
    writeFileSync(
      configFile,
      stringify({
        listen: { port: 0 },
        operator: { port: 0 },
        lnd: { ...gatewayLndConfig(network.nodes.alice), refundMacaroon },
        store: { path: storePath },
        log: { level: "info" },
        limits: { challengeBurst: 1_000, challengesPerMinute: 1_000 },
        refunds: { maxSats: 1_000, perMinute: 600, burst: 100, reconcileIntervalSeconds: 1, attemptLeaseSeconds: 5 },
        services: [
          {
            name: "metered",
            match: { pathPrefix: "/metered" },
            upstream: upstream.url,
            pricing: { rules: [{ perCallMsat: 1_000 }], deposit: { minMsat: 1_000, maxMsat: 1_000_000 } },
          },
        ],
      }),
    );
    gateway = await startGatewayProcess(configFile);
  });

  afterEach(async () => {
    for (const id of holdsMade.splice(0)) {
      if (!(await getInvoice({ lnd: bob, id })).is_confirmed) await cancelHodlInvoice({ lnd: bob, id });
    }
  });

  afterAll(async () => {
    await gateway?.kill();
    await upstream?.close();
  });

  async function buyMeteredToken(): Promise<string> {
    const res = await fetch(`${gateway.url}/metered/l402`, {
      headers: { "x-l402-deposit-msat": String(DEPOSIT_MSAT) },
    });
    const body = (await res.json()) as { macaroon: string; invoice: string };
    const paid = await pay({ lnd: bob, request: body.invoice });
    return formatAuthorization({ macaroons: [body.macaroon], preimage: Buffer.from(paid.secret, "hex") });
  }

  async function close(authorization: string, invoice?: string): Promise<{ status: number; body: RefundBody }> {
    const res = await fetch(`${gateway.url}/l402/close`, {
      method: "POST",
      headers: { authorization, "content-type": "application/json" },
      body: JSON.stringify(invoice === undefined ? {} : { invoice }),
    });
    return { status: res.status, body: (await res.json()) as RefundBody };
  }

  /** N closes and retries at once: the same invoice, other invoices of bob's, no invoice. */
  async function concurrentCloses(authorization: string, invoice: string) {
    const others = await Promise.all(Array.from({ length: CONCURRENT / 3 }, bobInvoice));
    const replies = await Promise.all([
      ...others.map((other) => close(authorization, other.request)),
      ...others.map(() => close(authorization, invoice)),
      ...others.map(() => close(authorization)),
    ]);
    return { replies, others };
  }

  function storedRefund(tokenId: string): { status: string; payment_hash: string; attempts: number } | undefined {
    const db = new Database(storePath, { readonly: true });
    try {
      return db.prepare("SELECT status, payment_hash, attempts FROM refunds WHERE token_id = ?").get(tokenId) as
        | { status: string; payment_hash: string; attempts: number }
        | undefined;
    } finally {
      db.close();
    }
  }

  async function refundOf(authorization: string): Promise<string> {
    // A close of a closed account answers its refund (and pays nothing new while one is in flight).
    return (await close(authorization)).body.token_id;
  }

  /** Alice's payments (paid or in flight) to these payment hashes, from her own payments list. */
  async function alicePaymentsTo(hashes: readonly string[]) {
    const { paid, inFlight } = await nodePayments(alice);
    return {
      paid: paid.filter((p) => hashes.includes(p.id)),
      inFlight: inFlight.filter((p) => hashes.includes(p.id)),
    };
  }

  async function accountingHolds(): Promise<void> {
    const verdict = await checkAccounting({ storePath, lnd: alice, quiescent: true });
    expect(verdict.violations).toEqual([]);
  }

  it("N closes at once, each naming its own hold invoice, then N more while bob holds the HTLC: one payment", async () => {
    const authorization = await buyMeteredToken();
    const holds = await Promise.all(Array.from({ length: 4 }, () => holdInvoice()));
    // The reproduction: concurrent closes of one account, before any payment is registered on LND.
    const firstWave = holds.map((hold) => close(authorization, hold.request));
    for (const reply of firstWave) reply.catch(() => {});
    const held = await (async () => {
      let found: (typeof holds)[number] | undefined;
      await expect
        .poll(
          async () => {
            for (const hold of holds) if ((await getInvoice({ lnd: bob, id: hold.id })).is_held) found = hold;
            return found !== undefined;
          },
          { timeout: 60_000, interval: 200 },
        )
        .toBe(true);
      if (!found) throw new Error("no refund payment reached bob");
      return found;
    })();
    const { replies, others } = await concurrentCloses(authorization, held.request);
    for (const reply of replies) {
      expect(reply).toMatchObject({
        status: 200,
        body: { refund: { status: "pending", in_flight: true, payment_hash: held.id, amount_msat: DEPOSIT_MSAT } },
      });
    }
    const hashes = [...holds.map((h) => h.id), ...others.map((o) => o.id)];
    expect(await alicePaymentsTo(hashes)).toMatchObject({ paid: [], inFlight: [{ id: held.id }] });
    await settleHodlInvoice({ lnd: bob, secret: held.secret });
    for (const reply of await Promise.all(firstWave)) {
      expect(reply.status).toBe(200);
      expect(reply.body.refund.payment_hash).toBe(held.id);
    }
    expect((await close(authorization, (await bobInvoice()).request)).body.refund).toMatchObject({
      status: "succeeded",
      payment_hash: held.id,
      attempts: 1,
    });
    expect((await getInvoice({ lnd: bob, id: held.id })).received_mtokens).toBe(String(DEPOSIT_MSAT));
    for (const other of [...holds.filter((h) => h !== held), ...others]) {
      const invoice = await getInvoice({ lnd: bob, id: other.id });
      expect({ id: other.id, held: invoice.is_held === true, paid: invoice.is_confirmed }).toEqual({
        id: other.id,
        held: false,
        paid: false,
      });
    }
    const sent = await alicePaymentsTo(hashes);
    expect(sent.paid.map((p) => [p.id, p.mtokens])).toEqual([[held.id, String(DEPOSIT_MSAT)]]);
    expect(sent.inFlight).toEqual([]);
    await accountingHolds();
  });

  it("bob cancels: the refund fails only once LND says so, then one of several retries with new invoices pays", async () => {
    const authorization = await buyMeteredToken();
    const held = await holdInvoice();
    const first = close(authorization, held.request);
    first.catch(() => {});
    await heldByBob(held.id);
    const { replies } = await concurrentCloses(authorization, held.request);
    for (const reply of replies) expect(reply.body.refund).toMatchObject({ status: "pending", payment_hash: held.id });
    const tokenId = replies[0]?.body.token_id ?? "";
    expect(storedRefund(tokenId)).toMatchObject({ status: "pending", payment_hash: held.id });
    await cancelHodlInvoice({ lnd: bob, id: held.id });
    expect(await first).toMatchObject({ status: 200, body: { refund: { status: "failed", payment_hash: held.id } } });
    const fresh = await Promise.all(Array.from({ length: 4 }, bobInvoice));
    const retries = await Promise.all(fresh.map((invoice) => close(authorization, invoice.request)));
    for (const retry of retries) expect(retry.status).toBe(200);
    const confirmed = [];
    for (const invoice of fresh) {
      if ((await getInvoice({ lnd: bob, id: invoice.id })).is_confirmed) confirmed.push(invoice.id);
    }
    expect(confirmed).toHaveLength(1);
    expect(storedRefund(tokenId)).toMatchObject({ status: "succeeded", payment_hash: confirmed[0] });
    expect((await alicePaymentsTo([held.id, ...fresh.map((f) => f.id)])).paid).toHaveLength(1);
    await accountingHolds();
  });

  it("the gateway killed with a refund in flight: restarted, it records LND's outcome and never pays twice", async () => {
    const authorization = await buyMeteredToken();
    const tokenId = await (async () => {
      const held = await holdInvoice();
      const first = close(authorization, held.request).catch(() => undefined);
      await heldByBob(held.id);
      await gateway.kill("SIGKILL");
      await first;
      gateway = await startGatewayProcess(configFile);
      const { replies, others } = await concurrentCloses(authorization, held.request);
      for (const reply of replies) {
        expect(reply.body.refund).toMatchObject({ status: "pending", in_flight: true, payment_hash: held.id });
      }
      await settleHodlInvoice({ lnd: bob, secret: held.secret });
      const id = replies[0]?.body.token_id ?? "";
      // The reconciler (every second here) reads LND's record of the payment.
      await expect.poll(() => storedRefund(id)?.status, { timeout: 60_000 }).toBe("succeeded");
      expect(storedRefund(id)).toMatchObject({ payment_hash: held.id, attempts: 1 });
      for (const other of others) expect((await getInvoice({ lnd: bob, id: other.id })).is_confirmed).toBe(false);
      expect((await alicePaymentsTo([held.id, ...others.map((o) => o.id)])).paid).toHaveLength(1);
      return id;
    })();
    expect(await refundOf(authorization)).toBe(tokenId);
    await accountingHolds();
  });

  it("alice's LND restarted mid-payment: the refund stays pending, then records the payment LND completed", async () => {
    const authorization = await buyMeteredToken();
    const held = await holdInvoice();
    const first = close(authorization, held.request);
    await heldByBob(held.id);
    const node = new NodeControl(network, "alice");
    await node.stop();
    let tokenId: string;
    try {
      const during = await first;
      expect(during).toMatchObject({ status: 200, body: { refund: { status: "pending", payment_hash: held.id } } });
      tokenId = during.body.token_id;
      const retried = await close(authorization, (await bobInvoice()).request);
      expect(retried.body.refund).toMatchObject({ status: "pending", payment_hash: held.id });
    } finally {
      // The network is shared by every test file: alice must be back, synced and her channel active.
      await node.start();
    }
    await expect
      .poll(async () => (await getPendingPayments({ lnd: alice })).payments.map((p) => p.id), { timeout: 60_000 })
      .toContain(held.id);
    const { replies, others } = await concurrentCloses(authorization, held.request);
    for (const reply of replies) expect(reply.body.refund).toMatchObject({ status: "pending", payment_hash: held.id });
    await settleHodlInvoice({ lnd: bob, secret: held.secret });
    await expect.poll(() => storedRefund(tokenId)?.status, { timeout: 60_000 }).toBe("succeeded");
    for (const other of others) expect((await getInvoice({ lnd: bob, id: other.id })).is_confirmed).toBe(false);
    expect((await alicePaymentsTo([held.id, ...others.map((o) => o.id)])).paid).toHaveLength(1);
    expect((await getChannels({ lnd: alice, is_active: true })).channels.length).toBeGreaterThan(0);
    await accountingHolds();
  });
});
