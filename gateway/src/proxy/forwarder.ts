import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { ServiceConfig } from "../config/schema.js";
import type { ClientAddresses } from "../http/client-address.js";
import { BodyTooLargeError, readBody } from "../http/read-body.js";
import { bodyTooLarge, sendRefusal } from "../http/refusal.js";
import type { GatewayMetrics } from "../metrics/metrics.js";
import type { UpstreamPools } from "../upstream/pool.js";
import { ejectsUpstream, mayRetryAttempt, upstreamErrorClass } from "../upstream/retry.js";
import { type ForwardOptions, type ForwardOutcome, hasRequestBody, type UpstreamProxy } from "./proxy.js";

/** What the forward stage needs to know of the request beyond its headers and body. */
export interface ForwardedRequest {
  readonly requestId: string;
  /** The canonical path and query: what the request was routed and priced as, and so what is sent. */
  readonly upstreamPath: string;
}

export interface ForwarderDeps {
  readonly proxy: UpstreamProxy;
  readonly pools: UpstreamPools;
  readonly clients: ClientAddresses;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  readonly maxBodyBytes: number;
}

/**
 * The forward stage: sends a request to the least-loaded upstream of its service's pool. An attempt that fails before
 * the upstream answered (unreachable, or timed out) is tried once more on another upstream when the request can be
 * sent again; the failed attempt never reached `options.plan`, so it is never charged.
 */
export class UpstreamForwarder {
  constructor(private readonly deps: ForwarderDeps) {}

  async forward(
    req: IncomingMessage,
    res: ServerResponse,
    service: ServiceConfig,
    request: ForwardedRequest,
    options: ForwardOptions = {},
  ): Promise<ForwardOutcome> {
    const { requestId, upstreamPath } = request;
    const { proxy, pools, metrics, log } = this.deps;
    const pool = pools.of(service.name);
    let body: Buffer | undefined;
    if (pool.size > 1 && options.body === undefined && hasRequestBody(req)) {
      // A body the proxy would stream cannot be sent a second time: with a pool, read it first so it can be.
      try {
        body = await readBody(req, this.deps.maxBodyBytes);
      } catch (error) {
        if (!(error instanceof BodyTooLargeError)) throw error;
        return { ok: false, ...sendRefusal(res, bodyTooLarge(error.message)) };
      }
    }
    const replayable = options.body !== undefined || body !== undefined || !hasRequestBody(req);
    const client = this.deps.clients.of(req);
    const forwarded = { clientIp: client.ip, proto: client.protocol, host: req.headers.host };
    const tried = new Set<string>();
    for (;;) {
      const upstream = pool.pick(tried) ?? pool.pick();
      if (upstream === undefined) throw new Error(`service ${service.name} has no upstream`);
      tried.add(upstream);
      const mayRetry = mayRetryAttempt(tried.size, replayable, pool.size);
      const end = pool.begin(upstream);
      let outcome: ForwardOutcome;
      try {
        outcome = await proxy.forward(
          req,
          res,
          { upstream, forwarded, path: upstreamPath, requestId, body, mayRetry },
          options,
        );
      } finally {
        end();
      }
      if (outcome.ok) metrics.requestPhases(service.name).upstreamTtfb.observe(outcome.ttfbSeconds);
      const errorClass = upstreamErrorClass(outcome);
      if (errorClass) metrics.upstreamErrors.inc({ service: service.name, class: errorClass });
      if (!outcome.ok && ejectsUpstream(errorClass)) {
        pool.reportFailure(upstream, outcome.code);
      }
      if (outcome.ok || !outcome.retryable) return outcome;
      if (pool.pick(tried) === undefined) {
        sendRefusal(res, { status: outcome.status, code: outcome.code, message: outcome.retryable.message });
        return outcome;
      }
      log.warn(
        { reqId: requestId, service: service.name, upstream, code: outcome.code },
        "retrying on another upstream",
      );
    }
  }
}
