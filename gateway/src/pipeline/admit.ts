import type { IncomingMessage, ServerResponse } from "node:http";
import type { ServiceConfig } from "../config/schema.js";
import type { ClientAddresses } from "../http/client-address.js";
import { sendJson } from "../http/json.js";
import { retryAfter, sendRefusal } from "../http/refusal.js";
import type { RateLimiter } from "../limits/rate-limiter.js";
import type { GatewayMetrics } from "../metrics/metrics.js";
import type { PaymentRefusal } from "../payment/gate.js";
import type { ChallengeAnswer } from "../payment/respond.js";
import type { Challenge } from "../tokens/challenger.js";
import type { Outcome } from "./outcome.js";

/**
 * The admit stage for requests that must pay first: each challenge is taken from the client's rate limit, then
 * answered 402 with the offer `issue` builds (a new token, or a top-up). A node that cannot make invoices throws
 * LightningUnavailableError, which the error map answers 503.
 */
export class ChallengeAdmission {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly clients: ClientAddresses,
    private readonly metrics: GatewayMetrics,
    /**
     * Adds the service's other offers (the Payment scheme) to a challenge, with the problem of a refused Payment
     * credential; see payment/respond.ts.
     */
    private readonly offer: (
      service: ServiceConfig,
      issued: Challenge,
      refusal: PaymentRefusal | undefined,
    ) => Promise<ChallengeAnswer> = async (_service, issued) => issued,
  ) {}

  /** Seconds until the client of `req` may have another challenge; 0 when one was taken from its rate limit now. */
  waitFor(req: IncomingMessage): number {
    return this.limiter.take(this.clients.of(req).ip);
  }

  /** Answers 429 to a client out of challenges for `waitSeconds`. */
  rateLimited(req: IncomingMessage, res: ServerResponse, service: ServiceConfig, waitSeconds: number): Outcome {
    req.resume();
    this.metrics.rateLimited.inc({ service: service.name });
    return sendRefusal(res, {
      status: 429,
      code: "rate_limited",
      message: "too many payment challenges from this address",
      headers: retryAfter(waitSeconds),
    });
  }

  /** Takes one challenge from the client's rate limit; answers 429 and returns its outcome when none is left. */
  takeChallenge(req: IncomingMessage, res: ServerResponse, service: ServiceConfig): Outcome | undefined {
    const waitSeconds = this.waitFor(req);
    return waitSeconds > 0 ? this.rateLimited(req, res, service, waitSeconds) : undefined;
  }

  /**
   * Answers 402 with the `issued` challenge and the service's other offers (`refusal`: why a Payment credential was
   * refused); the caller has passed `takeChallenge`. The outcome carries `code`.
   */
  async challenge(
    req: IncomingMessage,
    res: ServerResponse,
    ask: { service: ServiceConfig; code: string; issued: Challenge; refusal?: PaymentRefusal | undefined },
  ): Promise<Outcome> {
    const { service, code, issued, refusal } = ask;
    req.resume();
    const answer = await this.offer(service, issued, refusal);
    this.metrics.challengesIssued.inc({ service: service.name });
    sendJson(res, 402, answer.body, {
      "cache-control": "no-store",
      "www-authenticate": answer.wwwAuthenticate,
      ...(answer.contentType ? { "content-type": answer.contentType } : {}),
    });
    return { status: 402, code };
  }
}
