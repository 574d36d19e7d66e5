import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createL402Client } from "@l402-gateway/agent-client";
import type { RunningGateway } from "@l402-gateway/gateway";
import { formatChallenge, mintToken, servicesCaveat } from "@l402-gateway/l402";
import { createInvoice } from "lightning";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lndClient } from "../regtest/network-file.js";
import { startUpstream, type TestUpstream } from "../support/upstream.js";
import {
  added,
  bobChannelBalanceMsat,
  bobPaymentHashes,
  bobWallet,
  codeOf,
  network,
  startTestGateway,
} from "./support.js";

const aliceInvoices = lndClient(network.nodes.alice, "invoice");

type Invoicing = () => Promise<{ request: string; macaroonHash: Buffer }>;

/** A server that answers every request with a 402 built by `invoicing`, with real invoices from alice. */
async function startHostileServer(): Promise<{
  url: string;
  invoicing: { current: Invoicing };
  close(): Promise<void>;
}> {
  const invoicing: { current: Invoicing } = {
    current: async () => {
      const invoice = await createInvoice({ lnd: aliceInvoices, tokens: 3 });
      return { request: invoice.request, macaroonHash: Buffer.from(invoice.id, "hex") };
    },
  };
  const server: Server = createServer(async (_req, res) => {
    const { request, macaroonHash } = await invoicing.current();
    const token = mintToken({ paymentHash: macaroonHash, caveats: [servicesCaveat([{ name: "hostile", tier: 0 }])] });
    res.writeHead(402, {
      "www-authenticate": formatChallenge({ macaroonBase64: token.macaroonBase64, invoice: request }),
    });
    res.end("pay me");
  });
  await new Promise<void>((resolveListen) => server.listen(0, "127.0.0.1", resolveListen));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    invoicing,
    close: () => new Promise((resolveClose) => server.close(() => resolveClose())),
  };
}

describe("bad challenges and refusals cost at most what they should", () => {
  let hostile: Awaited<ReturnType<typeof startHostileServer>>;
  let upstream: TestUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    hostile = await startHostileServer();
    upstream = await startUpstream();
    gateway = await startTestGateway(upstream.url);
  });

  afterAll(async () => {
    await hostile?.close();
    await gateway?.close();
    await upstream?.close();
  });

  it("a server that answers 402 forever is paid once, then refused", async () => {
    const before = await bobPaymentHashes();
    const l402 = createL402Client({ wallet: bobWallet() });
    expect(await codeOf(l402.fetch(`${hostile.url}/anything`))).toBe("payment_refused");
    expect(added(before, await bobPaymentHashes())).toHaveLength(1);
    expect(await l402.receipts()).toMatchObject([{ status: "succeeded", amountSats: 3 }]);
  });

  it("an invoice that does not match the macaroon, a zero-amount and an expired invoice are not paid", async () => {
    const before = await bobPaymentHashes();
    const l402 = createL402Client({ wallet: bobWallet() });
    hostile.invoicing.current = async () => {
      const invoice = await createInvoice({ lnd: aliceInvoices, tokens: 3 });
      return { request: invoice.request, macaroonHash: randomBytes(32) };
    };
    expect(await codeOf(l402.fetch(hostile.url))).toBe("payment_hash_mismatch");
    hostile.invoicing.current = async () => {
      const invoice = await createInvoice({ lnd: aliceInvoices });
      return { request: invoice.request, macaroonHash: Buffer.from(invoice.id, "hex") };
    };
    expect(await codeOf(l402.fetch(hostile.url))).toBe("zero_amount_invoice");
    const anHourLater = createL402Client({ wallet: bobWallet(), now: () => new Date(Date.now() + 3_600_000) });
    expect(await codeOf(anHourLater.fetch(`${gateway.url}/v1/echo`))).toBe("invoice_expired");
    expect(await l402.receipts()).toEqual([]);
    expect(added(before, await bobPaymentHashes())).toEqual([]);
  });

  it("a payment LND cannot make is a payment_failed receipt that costs nothing", async () => {
    const balance = await bobChannelBalanceMsat();
    // Cap and budget far above the amount: the default budget would refuse it before LND is asked.
    const l402 = createL402Client({ wallet: bobWallet(), maxCostSats: 10_000_000, budget: { dailySats: 10_000_000 } });
    hostile.invoicing.current = async () => {
      // More than the whole 2,000,000-sat channel: no route can carry it.
      const invoice = await createInvoice({ lnd: aliceInvoices, tokens: 3_000_000 });
      return { request: invoice.request, macaroonHash: Buffer.from(invoice.id, "hex") };
    };
    expect(await codeOf(l402.fetch(hostile.url))).toBe("payment_failed");
    const [receipt] = await l402.receipts();
    expect(receipt).toMatchObject({ status: "failed", amountSats: 3_000_000 });
    expect((await l402.budget()).spent.totalSats).toBe(0);
    expect(await bobWallet().lookupPayment(receipt?.paymentHash ?? "")).toMatchObject({ status: "failed" });
    expect(await bobChannelBalanceMsat()).toBe(balance);
  });

  it("a revoked token is dropped and the new challenge paid once", async () => {
    const before = await bobPaymentHashes();
    const l402 = createL402Client({ wallet: bobWallet() });
    expect((await l402.fetch(`${gateway.url}/v1/echo`)).status).toBe(200);
    const [first] = await l402.tokens();
    const issued = await gateway.store.listTokens({ status: "paid" });
    const tokenId = issued.find((token) => token.paymentHash === first?.paymentHash)?.tokenId;
    expect(tokenId).toBeDefined();
    await gateway.store.revoke(tokenId ?? "", new Date());

    expect((await l402.fetch(`${gateway.url}/v1/echo`)).status).toBe(200);
    const tokens = await l402.tokens();
    expect(tokens).toHaveLength(1);
    expect(tokens[0]?.paymentHash).not.toBe(first?.paymentHash);
    expect(added(before, await bobPaymentHashes())).toHaveLength(2);
  });
});
