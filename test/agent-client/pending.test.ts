import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createL402Client, FileStore } from "@l402-gateway/agent-client";
import {
  decodeMacaroon,
  formatChallenge,
  L402Error,
  mintToken,
  parseAuthorization,
  rootKeyId,
  servicesCaveat,
  verifyToken,
} from "@l402-gateway/l402";
import { cancelHodlInvoice, createHodlInvoice, settleHodlInvoice } from "lightning";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lndClient } from "../regtest/network-file.js";
import { added, bobPaymentHashes, bobWallet, codeOf, network, tempStorePath } from "./support.js";

const aliceInvoices = lndClient(network.nodes.alice, "invoice");
const PRICE_SATS = 4;

/**
 * An L402 server whose invoices are hold invoices on alice: a payment to it stays in flight until the test settles
 * it, which is how a slow or stuck payment looks to the client.
 */
async function startHoldServer() {
  const rootKeys = new Map<string, Buffer>();
  const secrets = new Map<string, string>();
  const server: Server = createServer(async (req, res) => {
    try {
      const credential = parseAuthorization(req.headers.authorization ?? "");
      const macaroon = decodeMacaroon(credential.macaroons[0] ?? "");
      const rootKey = rootKeys.get(rootKeyId(macaroon.identifierBytes).toString("hex"));
      if (rootKey) {
        verifyToken({ macaroon, preimage: credential.preimage, rootKey, service: "hold", issuerCaveats: 1 });
        res.writeHead(200, { "content-type": "text/plain" }).end("served");
        return;
      }
    } catch (error) {
      if (!(error instanceof L402Error)) throw error;
    }
    const secret = randomBytes(32);
    const id = createHash("sha256").update(secret).digest("hex");
    secrets.set(id, secret.toString("hex"));
    const invoice = await createHodlInvoice({ lnd: aliceInvoices, id, tokens: PRICE_SATS });
    const token = mintToken({
      paymentHash: Buffer.from(id, "hex"),
      caveats: [servicesCaveat([{ name: "hold", tier: 0 }])],
    });
    rootKeys.set(token.rootKeyId.toString("hex"), token.rootKey);
    res.writeHead(402, {
      "www-authenticate": formatChallenge({ macaroonBase64: token.macaroonBase64, invoice: invoice.request }),
    });
    res.end();
  });
  await new Promise<void>((resolveListen) => server.listen(0, "127.0.0.1", resolveListen));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    settle: (paymentHash: string) => settleHodlInvoice({ lnd: aliceInvoices, secret: secrets.get(paymentHash) ?? "" }),
    /** Cancels every hold invoice not settled, so that no HTLC stays locked in the channel. */
    close: async () => {
      for (const id of secrets.keys()) await cancelHodlInvoice({ lnd: aliceInvoices, id }).catch(() => undefined);
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
    },
  };
}

describe("a payment that outlasts its timeout", () => {
  let holdServer: Awaited<ReturnType<typeof startHoldServer>>;

  beforeAll(async () => {
    holdServer = await startHoldServer();
  });

  afterAll(async () => {
    await holdServer?.close();
  });

  it("stays pending, blocks a second payment, and becomes the token once it settles", async () => {
    const storePath = tempStorePath();
    const before = await bobPaymentHashes();
    const client = () =>
      createL402Client({ wallet: bobWallet(), store: new FileStore(storePath), paymentTimeoutMs: 5_000 });

    expect(await codeOf(client().fetch(holdServer.url))).toBe("payment_timeout");
    const [pending] = await client().receipts();
    expect(pending).toMatchObject({ status: "pending", amountSats: PRICE_SATS });
    const paymentHash = pending?.paymentHash ?? "";
    expect(await bobWallet().lookupPayment(paymentHash)).toEqual({ status: "pending" });

    // Still in flight on LND: a new challenge for the same service is not paid.
    expect(await codeOf(client().fetch(holdServer.url))).toBe("payment_pending");
    expect(added(before, await bobPaymentHashes())).toEqual([paymentHash]);

    await holdServer.settle(paymentHash);
    await expect.poll(async () => (await bobWallet().lookupPayment(paymentHash)).status).toBe("succeeded");

    const response = await client().fetch(holdServer.url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("served");
    expect(await client().receipts()).toMatchObject([{ status: "succeeded", paymentHash }]);
    expect(added(before, await bobPaymentHashes())).toEqual([paymentHash]);
  });
});
