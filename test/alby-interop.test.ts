import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Wallet as AlbyWallet,
  fetch402,
  fetchWithL402,
  fetchWithMpp,
  type PaidResponse,
} from "@getalby/lightning-tools/402";
import type { RunningGateway } from "@l402-gateway/gateway";
import { type AuthenticatedLnd, pay } from "lightning";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { added, aliceLnd as alice, bobLnd as bob, bobPaymentHashes, startTestGateway } from "./agent-client/support.js";
import { checkAccounting } from "./support/accounting.js";
import { startUpstream, type TestUpstream } from "./support/upstream.js";

const PRICE_SATS = 5;
const PER_CALL_MSAT = 2_000;

/**
 * Bob's LND as the wallet object Alby's 402 helpers take: `payInvoice({ invoice }) → { preimage, fees_paid }`
 * (`fees_paid` in msat, as the library reads it into `feesPaidMsat`). Counts the invoices it was asked to pay.
 */
function albyWallet(lnd: AuthenticatedLnd): AlbyWallet & { readonly paid: string[] } {
  const paid: string[] = [];
  return {
    paid,
    async payInvoice({ invoice }) {
      paid.push(invoice);
      const result = await pay({ lnd, request: invoice, max_fee: 10 });
      return { preimage: result.secret, fees_paid: Number(result.fee_mtokens) };
    },
  };
}

describe("Alby's @getalby/lightning-tools pays the gateway from bob's LND (regtest)", () => {
  let upstream: TestUpstream;
  let gateway: RunningGateway;
  const storePath = join(mkdtempSync(join(tmpdir(), "gw-alby-")), "gateway.sqlite");

  beforeAll(async () => {
    upstream = await startUpstream();
    gateway = await startTestGateway(upstream.url, {
      store: { path: storePath },
      services: [
        { name: "weather", match: { pathPrefix: "/weather/" }, upstream: upstream.url, price: { sats: PRICE_SATS } },
        {
          name: "charged",
          match: { pathPrefix: "/charged/" },
          upstream: upstream.url,
          price: { sats: PRICE_SATS },
          schemes: ["payment-charge"],
        },
        {
          name: "both",
          match: { pathPrefix: "/both/" },
          upstream: upstream.url,
          price: { sats: PRICE_SATS },
          schemes: ["l402", "payment-charge"],
        },
        {
          name: "echo",
          match: { pathPrefix: "/v1/echo" },
          upstream: upstream.url,
          pricing: { rules: [{ perCallMsat: PER_CALL_MSAT }] },
        },
      ],
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("fetchWithL402 pays one invoice, and the credential it hands back serves later calls without paying", async () => {
    const wallet = albyWallet(bob);
    const before = await bobPaymentHashes();
    const first: PaidResponse = await fetchWithL402(`${gateway.url}/weather/today`, {}, { wallet });
    expect(first.status).toBe(200);
    await first.text();
    expect(first.payment).toMatchObject({ paid: true, amountSat: PRICE_SATS });
    const credentials = first.payment?.credentials;
    if (!credentials) throw new Error("Alby attached no credential to the paid response");
    // Alby answers in the scheme of the first challenge it reads: ours is the LSAT line, for old clients.
    expect(credentials.value).toMatch(/^LSAT \S+:[0-9a-f]{64}$/);

    for (let i = 0; i < 2; i++) {
      const again = await fetchWithL402(`${gateway.url}/weather/tomorrow?i=${i}`, {}, { wallet, credentials });
      expect(again.status).toBe(200);
      await again.text();
      expect(again.payment).toMatchObject({ paid: false });
    }
    expect(wallet.paid).toHaveLength(1);
    expect(added(before, await bobPaymentHashes())).toHaveLength(1);
    // The credential, preimage included, never reaches the upstream.
    for (const seen of upstream.seen) expect(seen.headers.authorization).toBeUndefined();
  });

  it("fetch402 dispatches our 402 to its L402 handler and pays within maxAmount; above it, pays nothing", async () => {
    const wallet = albyWallet(bob);
    const before = await bobPaymentHashes();
    const paid = await fetch402(`${gateway.url}/weather/today`, {}, { wallet, maxAmount: PRICE_SATS });
    expect(paid.status).toBe(200);
    await paid.text();
    expect(paid.payment?.paid).toBe(true);

    // Its guard refuses the invoice before the wallet is asked; the 402's invoice stays unpaid.
    await expect(
      fetch402(`${gateway.url}/weather/today`, {}, { wallet, maxAmount: PRICE_SATS - 1 }),
    ).rejects.toMatchObject({ name: "Fetch402InterruptedError", paid: false });
    expect(wallet.paid).toHaveLength(1);
    expect(added(before, await bobPaymentHashes())).toHaveLength(1);
  });

  it("pays a metered service; a spent credential gets a 402 back that Alby returns without paying again", async () => {
    const wallet = albyWallet(bob);
    const served = upstream.seen.length;
    const first = await fetchWithL402(`${gateway.url}/v1/echo`, { method: "POST", body: "one" }, { wallet });
    expect(first.status).toBe(200);
    expect(first.headers.get("x-l402-cost-msat")).toBe(String(PER_CALL_MSAT));
    await first.text();
    const credentials = first.payment?.credentials;
    if (!credentials) throw new Error("Alby attached no credential to the paid response");

    // One call's worth was prepaid: the same credential now gets a top-up 402, handed back as it is.
    const spent = await fetchWithL402(
      `${gateway.url}/v1/echo`,
      { method: "POST", body: "two" },
      { wallet, credentials },
    );
    expect(spent.status).toBe(402);
    expect(((await spent.json()) as { code: string }).code).toBe("insufficient_balance");
    expect(wallet.paid).toHaveLength(1);
    expect(upstream.seen.length - served).toBe(1);
  });

  it("fetch402 pays a service offering L402 and Payment charge through its L402 handler (our LSAT line comes first)", async () => {
    const wallet = albyWallet(bob);
    const res = await fetch402(`${gateway.url}/both/today`, {}, { wallet });
    expect(res.status).toBe(200);
    await res.text();
    expect(res.payment?.credentials.value).toMatch(/^LSAT /);
    expect(wallet.paid).toHaveLength(1);
  });

  // Alby 9.0.1 echoes only id, realm, method, intent, request and expires: the gateway binds the service through a
  // per-service HMAC secret rather than an `opaque` that would have to be echoed.
  it("fetchWithMpp pays a Payment charge offered alone and is served", async () => {
    const wallet = albyWallet(bob);
    const res = await fetchWithMpp(`${gateway.url}/charged/today`, {}, { wallet });
    await res.text();
    expect(wallet.paid).toHaveLength(1);
    expect(res.status).toBe(200);
  });

  it("keeps the accounting invariant", async () => {
    const verdict = await checkAccounting({
      storePath,
      lnd: alice,
      upstreamServed: upstream.seen.filter((seen) => seen.url.startsWith("/v1/echo")).length,
      quiescent: true,
    });
    expect(verdict.violations).toEqual([]);
  });
});
