import type { IncomingMessage, ServerResponse } from "node:http";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/load.js";
import type { ClientAddresses } from "../http/client-address.js";
import { RateLimiter } from "../limits/rate-limiter.js";
import { GatewayMetrics } from "../metrics/metrics.js";
import type { Challenge } from "../tokens/challenger.js";
import { ChallengeAdmission } from "./admit.js";

const service = parseConfig({
  lnd: { socket: "127.0.0.1:1", cert: "x", macaroon: "x" },
  store: { path: ":memory:" },
  services: [{ name: "llm", match: { pathPrefix: "/" }, upstream: "http://127.0.0.1:1", price: { sats: 1 } }],
}).services[0] as never;

/** A response that records what was written to it. */
function recorder() {
  const sent: { status?: number; headers?: Record<string, unknown>; body?: unknown } = {};
  const res = {
    headersSent: false,
    writeHead(status: number, headers: Record<string, unknown>) {
      sent.status = status;
      sent.headers = headers;
      return this;
    },
    end(text: string) {
      sent.body = JSON.parse(text);
    },
  } as unknown as ServerResponse;
  return { res, sent };
}

const req = { resume() {} } as unknown as IncomingMessage;
const clients = { of: () => ({ ip: "192.0.2.1" }) } as unknown as ClientAddresses;

describe("the challenge admission stage", () => {
  it("takes one challenge per request from the client's rate limit, then answers 429 with Retry-After", () => {
    const admission = new ChallengeAdmission(new RateLimiter(1, 1), clients, new GatewayMetrics(["llm"]));
    expect(admission.waitFor(req)).toBe(0);
    const { res, sent } = recorder();
    expect(admission.takeChallenge(req, res, service)).toEqual({ status: 429, code: "rate_limited" });
    expect(sent.status).toBe(429);
    expect(Number(sent.headers?.["retry-after"])).toBeGreaterThan(0);
    expect(sent.body).toMatchObject({ code: "rate_limited" });
  });

  it("answers 402 with the issued challenge and the offers added to it", async () => {
    const issued: Challenge = {
      wwwAuthenticate: ['L402 macaroon="m", invoice="i"'],
      body: { code: "missing", message: "pay", price_sats: 1, invoice: "i", macaroon: "m", payment_hash: "h" },
    } as unknown as Challenge;
    const admission = new ChallengeAdmission(
      new RateLimiter(60, 10),
      clients,
      new GatewayMetrics(["llm"]),
      async (_service, challenge) => ({ ...challenge, body: { ...challenge.body, offered: true } }),
    );
    const { res, sent } = recorder();
    const code = "missing";
    expect(await admission.challenge(req, res, { service, code, issued })).toEqual({ status: 402, code });
    expect(sent.status).toBe(402);
    expect(sent.headers?.["www-authenticate"]).toEqual(issued.wwwAuthenticate);
    expect(sent.body).toMatchObject({ code: "missing", offered: true });
  });
});
