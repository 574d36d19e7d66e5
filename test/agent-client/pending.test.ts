import { createL402Client, FileStore } from "@l402-gateway/agent-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostileServer } from "./hostile-server.js";
import { added, bobPaymentHashes, bobWallet, codeOf, tempStorePath } from "./support.js";

const PRICE_SATS = 4;

/**
 * An L402 server whose invoices are hold invoices on alice: a payment to it stays in flight until the test settles
 * it, which is how a slow or stuck payment looks to the client.
 */
async function startHoldServer(): Promise<HostileServer> {
  const server = await HostileServer.start();
  server.behaviour = async (request, res) => {
    if (server.paidService(request) === "hold") res.writeHead(200, { "content-type": "text/plain" }).end("served");
    else await server.challenge(res, { service: "hold", sats: PRICE_SATS, hold: true });
  };
  return server;
}

describe("a payment that outlasts its timeout", () => {
  let holdServer: HostileServer;

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
