import { connectLnd, LndInvoiceBackend, parseConfig } from "@l402-gateway/gateway";
import { decodePaymentRequest, getInvoice } from "lightning";
import { describe, expect, it } from "vitest";
import { testNetwork } from "./regtest/context.js";
import { gatewayLndConfig, lndClient } from "./regtest/network-file.js";

const network = testNetwork();
const alice = lndClient(network.nodes.alice);
const bob = lndClient(network.nodes.bob);

describe("LND invoice backend (regtest): one AddInvoice per challenge", () => {
  const { lnd } = parseConfig({
    lnd: gatewayLndConfig(network.nodes.alice),
    store: { path: ":memory:" },
    services: [{ name: "llm", match: { pathPrefix: "/" }, upstream: "http://127.0.0.1:1", price: { sats: 1 } }],
  });
  const backend = new LndInvoiceBackend(connectLnd(lnd), 30_000);

  it("returns the hash and request of the invoice LND holds, for the amount, memo and expiry asked", async () => {
    const before = Date.now();
    const created = await backend.createInvoice({ sats: 21, memo: "l402 backend test", expirySeconds: 600 });
    // As the agent's node reads it.
    const decoded = await decodePaymentRequest({ lnd: bob, request: created.request });
    expect(decoded).toMatchObject({ id: created.paymentHash, tokens: 21, description: "l402 backend test" });
    // LND counts the expiry from its own creation time, in whole seconds: the gateway's is the same within one.
    const lndExpiry = Date.parse(decoded.expires_at);
    expect(Math.abs(created.expiresAt.getTime() - lndExpiry)).toBeLessThanOrEqual(1_000 + (Date.now() - before));
    expect(lndExpiry - before).toBeGreaterThanOrEqual(599_000);
    expect(lndExpiry - before).toBeLessThanOrEqual(660_000);
    const held = await getInvoice({ lnd: alice, id: created.paymentHash });
    expect(held).toMatchObject({ request: created.request, tokens: 21, is_confirmed: false });
    expect(await backend.lookupSettlement(created.paymentHash)).toBeUndefined();
  });

  it("makes a distinct invoice each time", async () => {
    const args = { sats: 1, memo: "same", expirySeconds: 60 };
    const [first, second] = await Promise.all([backend.createInvoice(args), backend.createInvoice(args)]);
    expect(first.paymentHash).not.toBe(second.paymentHash);
    expect(first.request).not.toBe(second.request);
  });

  it("reports LND's refusal as LND being unavailable for the invoice, with LND's reason", async () => {
    await expect(backend.createInvoice({ sats: -5, memo: "negative", expirySeconds: 60 })).rejects.toThrow(
      /LND could not create an invoice: .+/,
    );
  });
});
