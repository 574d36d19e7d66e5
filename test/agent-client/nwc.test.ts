import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createL402Client, FileStore, NwcWallet } from "@l402-gateway/agent-client";
import type { RunningGateway } from "@l402-gateway/gateway";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type LocalRelay, startNostrRelay } from "../support/nostr-relay.js";
import { type NwcService, startNwcWalletService } from "../support/nwc-wallet-service.js";
import { startUpstream, type TestUpstream } from "../support/upstream.js";
import { startHost } from "./mcp-host.js";
import {
  added,
  aliceSettledHashes,
  bobChannelBalanceMsat,
  bobLnd,
  bobPaymentHashes,
  codeOf,
  crashingAfterSend,
  expectBooksToBalance,
  LLM_PRICE_SATS,
  runCli,
  startTestGateway,
  tempStorePath,
  WEATHER_PRICE_SATS,
} from "./support.js";

describe("paying through a Nostr Wallet Connect wallet: a local relay, a NIP-47 service paying from bob's LND", () => {
  let relay: LocalRelay;
  let service: NwcService;
  let upstream: TestUpstream;
  let gateway: RunningGateway;
  const gatewayStore = join(mkdtempSync(join(tmpdir(), "l402-nwc-gw-")), "gateway.sqlite");
  const opened: NwcWallet[] = [];

  const nwcWallet = () => {
    const wallet = NwcWallet.fromUri(service.uri);
    opened.push(wallet);
    return wallet;
  };

  beforeAll(async () => {
    relay = await startNostrRelay();
    service = await startNwcWalletService(relay.url, bobLnd);
    upstream = await startUpstream();
    gateway = await startTestGateway(upstream.url, { store: { path: gatewayStore } });
  });

  afterEach(() => {
    for (const wallet of opened.splice(0)) wallet.close();
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
    service?.close();
    await relay?.close();
  });

  it("pays once over NWC, then reuses the token; the payment is on bob's LND and alice settled it", async () => {
    const before = await bobPaymentHashes();
    const settledBefore = await aliceSettledHashes();
    const client = createL402Client({ wallet: nwcWallet() });
    const first = await client.fetch(`${gateway.url}/v1/echo`, { method: "POST", body: "over nostr" });
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ body: "over nostr" });
    expect((await client.fetch(`${gateway.url}/v1/echo`)).status).toBe(200);
    const receipts = await client.receipts();
    expect(receipts).toMatchObject([{ status: "succeeded", amountSats: LLM_PRICE_SATS, service: "llm" }]);
    const paid = added(before, await bobPaymentHashes());
    expect(paid).toEqual([receipts[0]?.paymentHash]);
    expect(added(settledBefore, await aliceSettledHashes())).toEqual(paid);
    expect(service.requests.pay_invoice).toBe(1);
  });

  it("refuses a price above the cap before asking the wallet: nothing paid", async () => {
    const before = await bobPaymentHashes();
    const payRequests = service.requests.pay_invoice ?? 0;
    const balance = await bobChannelBalanceMsat();
    const client = createL402Client({ wallet: nwcWallet(), maxCostSats: LLM_PRICE_SATS + 5, maxFeeSats: 10 });
    expect(await codeOf(client.fetch(`${gateway.url}/v1/echo`))).toBe("over_cap");
    expect(service.requests.pay_invoice ?? 0).toBe(payRequests);
    expect(added(before, await bobPaymentHashes())).toEqual([]);
    expect(await bobChannelBalanceMsat()).toBe(balance);
  });

  it("ten concurrent calls that meet the same 402 pay exactly one invoice over NWC", async () => {
    const before = await bobPaymentHashes();
    const client = createL402Client({ wallet: nwcWallet() });
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        client.fetch(`${gateway.url}/weather/city-${i}`, { method: "POST", body: `call ${i}` }),
      ),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(10).fill(200));
    await Promise.all(responses.map((response) => response.arrayBuffer()));
    expect(added(before, await bobPaymentHashes())).toHaveLength(1);
    expect(await client.receipts()).toMatchObject([{ amountSats: WEATHER_PRICE_SATS, status: "succeeded" }]);
  });

  it("a crash after the payment left: a new client resolves it with lookup_invoice and does not pay again", async () => {
    const storePath = tempStorePath();
    const before = await bobPaymentHashes();
    const doomed = createL402Client({ wallet: crashingAfterSend(nwcWallet()), store: new FileStore(storePath) });
    expect(await codeOf(doomed.fetch(`${gateway.url}/v1/echo`))).toBe("payment_timeout");
    const [pending] = (await new FileStore(storePath).read()).receipts;
    expect(pending).toMatchObject({ status: "pending", amountSats: LLM_PRICE_SATS });
    expect(added(before, await bobPaymentHashes())).toEqual([pending?.paymentHash]);

    const lookups = service.requests.lookup_invoice ?? 0;
    const restarted = createL402Client({ wallet: nwcWallet(), store: new FileStore(storePath) });
    const response = await restarted.fetch(`${gateway.url}/v1/echo`, { method: "POST", body: "after the crash" });
    expect(response.status).toBe(200);
    expect(service.requests.lookup_invoice ?? 0).toBeGreaterThan(lookups);
    expect(added(before, await bobPaymentHashes())).toEqual([pending?.paymentHash]);
    expect(await restarted.receipts()).toMatchObject([{ status: "succeeded", paymentHash: pending?.paymentHash }]);
  });

  it("reads the wallet's balance, and knows a payment it never made", async () => {
    const wallet = nwcWallet();
    expect(await wallet.balanceMsat()).toBe(Number(await bobChannelBalanceMsat()));
    expect(await wallet.lookupPayment("ab".repeat(32))).toEqual({ status: "unknown" });
  });

  it("the CLI pays with --wallet nwc --nwc-uri-file and never prints the URI's secret", async () => {
    const dir = mkdtempSync(join(tmpdir(), "l402-nwc-uri-"));
    const uriFile = join(dir, "nwc.uri");
    writeFileSync(uriFile, `${service.uri}\n`, { mode: 0o600 });
    const storePath = tempStorePath();
    const before = await bobPaymentHashes();
    const env = { L402_STORE: storePath };
    const result = await runCli(
      ["get", `${gateway.url}/weather/paris`, "--wallet", "nwc", "--nwc-uri-file", uriFile],
      env,
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`paid ${WEATHER_PRICE_SATS} sats`);
    expect(added(before, await bobPaymentHashes())).toHaveLength(1);
    const secret = new URL(service.uri.replace("nostr+walletconnect://", "http://")).searchParams.get("secret") ?? "";
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(result.stdout + result.stderr).not.toContain(secret);

    // A broken URI from the environment is refused with a message that does not repeat it.
    const broken = await runCli(["get", `${gateway.url}/weather/paris`, "--wallet", "nwc"], {
      L402_STORE: tempStorePath(),
      L402_NWC_URI: service.uri.replace(/secret=[0-9a-f]+/, `secret=${secret.slice(0, 20)}`),
    });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain("secret is not 64 hex digits");
    expect(broken.stderr).not.toContain(secret.slice(0, 20));
  });

  it("the MCP server pays with an NWC wallet too, and shows the wallet's balance", async () => {
    const uriFile = join(mkdtempSync(join(tmpdir(), "l402-nwc-uri-")), "nwc.uri");
    writeFileSync(uriFile, service.uri, { mode: 0o600 });
    const before = await bobPaymentHashes();
    const host = await startHost({ L402_STORE: tempStorePath(), L402_WALLET: "nwc", L402_NWC_URI_FILE: uriFile });
    try {
      const paid = await host.call("fetch", { url: `${gateway.url}/weather/rome` });
      expect(paid).toMatchObject({ error: false, data: { status: 200, payment: { amount_sats: WEATHER_PRICE_SATS } } });
      const balance = await host.call("balance");
      expect(balance.data.wallet_balance_msat).toBe(Number(await bobChannelBalanceMsat()));
    } finally {
      await host.close();
    }
    expect(added(before, await bobPaymentHashes())).toHaveLength(1);
  });

  it("keeps the books: LND's settlements and the gateway's tokens agree", async () => {
    await expectBooksToBalance(gatewayStore);
  });
});
