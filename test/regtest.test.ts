import { createHash } from "node:crypto";
import { createInvoice, getChannels, getInvoice, pay } from "lightning";
import { describe, expect, it } from "vitest";
import { testNetwork } from "./regtest/context.js";
import { lndClient } from "./regtest/network-file.js";

describe("regtest Lightning network", () => {
  const network = testNetwork();
  const alice = lndClient(network.nodes.alice, "invoice");
  const aliceAdmin = lndClient(network.nodes.alice);
  const bob = lndClient(network.nodes.bob);

  async function localBalance(lnd: typeof bob, peer: string): Promise<number> {
    const { channels } = await getChannels({ lnd, partner_public_key: peer, is_active: true });
    expect(channels).toHaveLength(1);
    return channels[0]?.local_balance ?? Number.NaN;
  }

  it("alice invoices with her invoice macaroon, bob pays, and the funds move", async () => {
    const amount = 1_234;
    const aliceBefore = await localBalance(aliceAdmin, network.nodes.bob.publicKey);
    const bobBefore = await localBalance(bob, network.nodes.alice.publicKey);

    const invoice = await createInvoice({ lnd: alice, tokens: amount, description: "regtest test" });
    const payment = await pay({ lnd: bob, request: invoice.request });

    const preimageHash = createHash("sha256").update(Buffer.from(payment.secret, "hex")).digest("hex");
    expect(preimageHash).toBe(invoice.id);
    expect(payment.tokens).toBe(amount);

    const settled = await getInvoice({ lnd: alice, id: invoice.id });
    expect(settled.is_confirmed).toBe(true);
    expect(settled.received).toBe(amount);
    expect(settled.secret).toBe(payment.secret);

    // `pay` resolves on the preimage; the channel state follows once both commitments are signed.
    await expect.poll(() => localBalance(aliceAdmin, network.nodes.bob.publicKey)).toBe(aliceBefore + amount);
    // A direct channel peer charges no routing fee, so bob loses exactly the amount.
    expect(payment.fee).toBe(0);
    await expect.poll(() => localBalance(bob, network.nodes.alice.publicKey)).toBe(bobBefore - amount);
  });

  it("the invoice macaroon cannot spend", async () => {
    const invoice = await createInvoice({ lnd: lndClient(network.nodes.bob, "invoice"), tokens: 10 });
    const refusal = await pay({ lnd: alice, request: invoice.request }).then(
      () => "paid",
      (error: unknown) => JSON.stringify(error),
    );
    expect(refusal).toMatch(/permission denied/i);
  });
});
