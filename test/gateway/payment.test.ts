import { request as httpRequest } from "node:http";
import {
  decodePaymentRequest,
  formatPaymentAuthorization,
  lightningChargeRequestSchema,
  type PaymentChallenge,
  parsePaymentChallenges,
} from "@l402-gateway/l402";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Settlement } from "../../gateway/src/lightning/invoices.js";
import { type RunningGateway, startGateway } from "../../gateway/src/server.js";
import { offlineGatewayConfig } from "../../gateway/src/test-support/offline-config.js";
import { KnownPreimageInvoices } from "../support/known-preimage-invoices.js";
import { startUpstream, type TestUpstream } from "../support/upstream.js";

/** Invoices whose preimages the test knows; `pay` marks one settled (as LND would report it) and reveals its preimage. */
class SettlingInvoices extends KnownPreimageInvoices {
  private readonly settled = new Set<string>();
  pay(paymentHash: string): string {
    this.settled.add(paymentHash);
    return this.preimageOf(paymentHash).toString("hex");
  }
  override async lookupSettlement(paymentHash: string): Promise<Settlement | undefined> {
    return this.settled.has(paymentHash) ? { paymentHash, settleIndex: 0, settledAt: new Date() } : undefined;
  }
}

describe("Payment scheme over HTTP (invoices faked)", () => {
  let upstream: TestUpstream;
  let gateway: RunningGateway;
  const invoices = new SettlingInvoices();

  beforeAll(async () => {
    upstream = await startUpstream();
    const config = offlineGatewayConfig({
      services: [
        // A Payment-only service whose upstream path fails: a paid call that the upstream answers 500.
        {
          name: "only",
          match: { pathPrefix: "/v1/fail" },
          upstream: upstream.url,
          price: { sats: 5 },
          schemes: ["payment-charge"],
        },
        {
          name: "both",
          match: { pathPrefix: "/v1/" },
          upstream: upstream.url,
          price: { sats: 7 },
          schemes: ["l402", "payment-charge"],
        },
      ],
    });
    gateway = await startGateway(config, { backend: invoices, log: pino({ level: "silent" }) });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  async function challenge(path: string): Promise<{ res: Response; payment: PaymentChallenge }> {
    const res = await fetch(`${gateway.url}${path}`);
    const [payment] = parsePaymentChallenges(res.headers.get("www-authenticate") ?? "");
    if (!payment) throw new Error("no Payment challenge");
    return { res, payment };
  }

  const paid = (c: PaymentChallenge) => {
    const hash = decodePaymentRequest(c.request, lightningChargeRequestSchema).methodDetails.paymentHash ?? "";
    return { challenge: c, payload: { preimage: invoices.pay(hash) } };
  };

  it("offers only the Payment scheme where L402 is not allowed, and refuses L402 credentials there", async () => {
    const { res } = await challenge("/v1/fail");
    expect(res.status).toBe(402);
    expect(res.headers.get("www-authenticate")).toMatch(/^Payment /);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 402, schemes: ["payment-charge"] });
    expect(body.macaroon).toBeUndefined();
    const l402 = await fetch(`${gateway.url}/v1/fail`, { headers: { authorization: `L402 AgE=:${"00".repeat(32)}` } });
    expect(l402.status).toBe(402);
  });

  it("sends no receipt with a non-2xx answer, and the charge stays consumed", async () => {
    const { payment } = await challenge("/v1/fail");
    const authorization = formatPaymentAuthorization(paid(payment));
    const failed = await fetch(`${gateway.url}/v1/fail`, { headers: { authorization } });
    expect(failed.status).toBe(500);
    expect(failed.headers.get("payment-receipt")).toBeNull();
    const again = await fetch(`${gateway.url}/v1/fail`, { headers: { authorization } });
    expect(again.status).toBe(402);
    expect(((await again.json()) as { type: string }).type).toMatch(/invalid-challenge$/);
  });

  it("answers 400 to several Payment credentials, and a fresh 402 to a malformed one", async () => {
    const { payment } = await challenge("/v1/x");
    const authorization = formatPaymentAuthorization(paid(payment));
    // Two header lines (fetch would join them into one value).
    const several = await new Promise<{ status: number; type: string }>((resolvePromise, reject) => {
      const req = httpRequest(`${gateway.url}/v1/x`);
      req.appendHeader("authorization", authorization);
      req.appendHeader("authorization", authorization);
      req.on("response", (res) => {
        res.resume();
        resolvePromise({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]) });
      });
      req.on("error", reject);
      req.end();
    });
    expect(several).toEqual({ status: 400, type: "application/problem+json" });
    const malformed = await fetch(`${gateway.url}/v1/x`, { headers: { authorization: "Payment not+base64url" } });
    expect(malformed.status).toBe(402);
    expect(parsePaymentChallenges(malformed.headers.get("www-authenticate") ?? "")).toHaveLength(1);
    expect(((await malformed.json()) as { type: string }).type).toMatch(/\/malformed-credential$/);
    // Neither consumed the paid challenge.
    const served = await fetch(`${gateway.url}/v1/x`, { headers: { authorization } });
    expect(served.status).toBe(200);
    expect(served.headers.get("payment-receipt")).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});
