import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { InvoicePoolEvents } from "../lightning/invoice-pool.js";
import { type HistogramSeries, SeriesHistogram } from "./series-histogram.js";

/** The request path's l402_request_duration_seconds series of one service. */
export interface RequestPhases {
  readonly auth: HistogramSeries;
  readonly upstreamTtfb: HistogramSeries;
  readonly total: HistogramSeries;
}

/**
 * The gateway's Prometheus metrics. Labels are bounded sets only (service, model, reason, phase, method, class):
 * never a token id, payment hash, client IP or free-form path. With `--workers N` the primary sums each series over
 * the workers, except gauges of state they share (LND, the store, prices), whose `aggregator` is max.
 */
export class GatewayMetrics {
  readonly registry = new Registry();

  readonly challengesIssued = new Counter({
    name: "l402_challenges_issued_total",
    help: "402 challenges answered with a fresh invoice",
    labelNames: ["service"] as const,
    registers: [this.registry],
  });

  readonly invoicesSettled = new Counter({
    name: "l402_invoices_settled_total",
    help: "Challenge invoices seen settled on LND",
    labelNames: ["service"] as const,
    registers: [this.registry],
  });

  readonly revenueSats = new Counter({
    name: "l402_revenue_sats_total",
    help: "Sats received for settled challenge invoices",
    labelNames: ["service", "model"] as const,
    registers: [this.registry],
  });

  readonly paidRequests = new Counter({
    name: "l402_paid_requests_total",
    help: "Requests proxied on a valid credential, by scheme: l402 (L402/LSAT token) or payment (Payment charge or session)",
    labelNames: ["service", "scheme"] as const,
    registers: [this.registry],
  });

  readonly authFailures = new Counter({
    name: "l402_auth_failures_total",
    help: "Requests refused by L402 verification, by reason code",
    labelNames: ["service", "reason"] as const,
    registers: [this.registry],
  });

  readonly rateLimited = new Counter({
    name: "l402_rate_limited_total",
    help: "Challenges refused by the per-client challenge rate limit",
    labelNames: ["service"] as const,
    registers: [this.registry],
  });

  readonly requestDuration = new SeriesHistogram({
    name: "l402_request_duration_seconds",
    help: "Request latency by phase: auth, pricing, upstream_ttfb (to the upstream's response headers), total",
    labelNames: ["service", "phase"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  private readonly phases = new Map<string, RequestPhases>();

  readonly upstreamErrors = new Counter({
    name: "l402_upstream_errors_total",
    help: "Upstream failures by class: unreachable, timeout, http_5xx, aborted",
    labelNames: ["service", "class"] as const,
    registers: [this.registry],
  });

  readonly lndCallDuration = new Histogram({
    name: "l402_lnd_call_duration_seconds",
    help: "Latency of calls to LND by method",
    labelNames: ["method"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly lndCallErrors = new Counter({
    name: "l402_lnd_call_errors_total",
    help: "Failed calls to LND by method",
    labelNames: ["method"] as const,
    registers: [this.registry],
  });

  private lastLndCallOk = true;
  private settlementStreamUp: () => boolean = () => false;
  private countActiveTokens: () => Promise<number> = async () => 0;

  readonly lndUp = new Gauge({
    name: "l402_lnd_up",
    aggregator: "max",
    help: "1 if the last call to LND succeeded and the invoice subscription is up, else 0",
    registers: [this.registry],
    collect: () => {
      this.lndUp.set(this.lastLndCallOk && this.settlementStreamUp() ? 1 : 0);
    },
  });

  readonly priceSats = new Gauge({
    name: "l402_price_sats",
    aggregator: "max",
    help: "Price of the last quote per service",
    labelNames: ["service"] as const,
    registers: [this.registry],
  });

  readonly priceMsat = new Gauge({
    name: "l402_price_msat",
    aggregator: "max",
    help: "Configured prices of metered services, by rule index and component (per_call, prompt_token, completion_token, fee)",
    labelNames: ["service", "rule", "component"] as const,
    registers: [this.registry],
  });

  readonly chargedMsat = new Counter({
    name: "l402_charged_msat_total",
    help: "Msat drawn from prepaid balances for served requests, by service and model",
    labelNames: ["service", "model"] as const,
    registers: [this.registry],
  });

  readonly meteredRequests = new Counter({
    name: "l402_metered_requests_total",
    help: "Metered requests settled, by how their charge was found: usage, partial, failed, no_usage, fixed",
    labelNames: ["service", "outcome"] as const,
    registers: [this.registry],
  });

  readonly usageMissing = new Counter({
    name: "l402_usage_missing_total",
    help: "Metered LLM responses without usage; each was charged its full reservation",
    labelNames: ["service"] as const,
    registers: [this.registry],
  });

  readonly topUpsIssued = new Counter({
    name: "l402_topups_issued_total",
    help: "402 answers with a top-up invoice for a token whose balance was too low",
    labelNames: ["service"] as const,
    registers: [this.registry],
  });

  readonly paymentCredentials = new Counter({
    name: "l402_payment_credentials_total",
    help: "Payment-scheme credentials by intent and action (charge, open, bearer, topUp, close) and outcome (ok or the problem type)",
    labelNames: ["service", "intent", "action", "outcome"] as const,
    registers: [this.registry],
  });

  readonly accountsClosed = new Counter({
    name: "l402_accounts_closed_total",
    help: "Prepaid accounts closed for a refund, by scheme (l402 token or payment session)",
    labelNames: ["service", "scheme"] as const,
    registers: [this.registry],
  });

  readonly refundedMsat = new Counter({
    name: "l402_refunded_msat_total",
    help: "Unspent balances paid back to agents (refunds LND reported succeeded)",
    labelNames: ["service"] as const,
    registers: [this.registry],
  });

  readonly refundFailures = new Counter({
    name: "l402_refund_failures_total",
    help: "Refund payments that failed (each may be retried by a repeated close)",
    labelNames: ["service"] as const,
    registers: [this.registry],
  });

  private outstandingBalanceMsat: () => Promise<number> = async () => 0;

  readonly prepaidBalance = new Gauge({
    name: "l402_prepaid_balance_sats",
    aggregator: "max",
    help: "Outstanding prepaid balance (balances plus reservations) of paid metered tokens",
    registers: [this.registry],
    collect: async () => {
      this.prepaidBalance.set((await this.outstandingBalanceMsat()) / 1000);
    },
  });

  readonly surgeMultiplier = new Gauge({
    name: "l402_surge_multiplier",
    aggregator: "max",
    help: "Load multiplier applied to new quotes per service (1 when prices are static)",
    labelNames: ["service"] as const,
    registers: [this.registry],
  });

  readonly activeTokens = new Gauge({
    name: "l402_tokens_active",
    aggregator: "max",
    help: "Paid tokens that are neither revoked nor expired",
    registers: [this.registry],
    collect: async () => {
      this.activeTokens.set(await this.countActiveTokens());
    },
  });

  readonly invoicePoolReady = new Gauge({
    name: "l402_invoice_pool_ready",
    help: "Invoices created ahead of time and ready to hand out (0 when the pool is off)",
    registers: [this.registry],
    collect: () => {
      this.invoicePoolReady.set(this.invoicePoolSize());
    },
  });

  readonly invoicePoolCreating = new Gauge({
    name: "l402_invoice_pool_creating",
    help: "Invoices the pool is asking LND for right now (refills); 0 when it is idle",
    registers: [this.registry],
    collect: () => {
      this.invoicePoolCreating.set(this.invoicePoolInFlight());
    },
  });

  readonly invoicePoolRequests = new Counter({
    name: "l402_invoice_pool_requests_total",
    help: "Invoices asked of the pool: result hit (handed out a ready one) or miss (created on LND there and then)",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });

  readonly invoicePoolExpired = new Counter({
    name: "l402_invoice_pool_expired_total",
    help: "Ready invoices dropped unused because they reached lnd.invoicePool.maxAgeSeconds",
    registers: [this.registry],
  });

  private invoicePoolSize: () => number = () => 0;
  private invoicePoolInFlight: () => number = () => 0;

  constructor(services: readonly string[]) {
    collectDefaultMetrics({ register: this.registry });
    for (const service of services) {
      this.surgeMultiplier.set({ service }, 1);
      // Zero-initialised series let rate() and absent() work before the first event.
      this.challengesIssued.inc({ service }, 0);
      this.invoicesSettled.inc({ service }, 0);
      this.paidRequests.inc({ service, scheme: "l402" }, 0);
      this.refundedMsat.inc({ service }, 0);
      this.refundFailures.inc({ service }, 0);
      this.revenueSats.inc({ service, model: "any" }, 0);
    }
  }

  /** Wires the gauges that are read from live state when Prometheus scrapes. */
  observe(sources: {
    settlementStreamUp: () => boolean;
    countActiveTokens: () => Promise<number>;
    outstandingBalanceMsat: () => Promise<number>;
  }): void {
    this.settlementStreamUp = sources.settlementStreamUp;
    this.countActiveTokens = sources.countActiveTokens;
    this.outstandingBalanceMsat = sources.outstandingBalanceMsat;
  }

  /** The invoice pool's event sink (its counters start at zero). */
  invoicePoolEvents(): InvoicePoolEvents {
    this.invoicePoolRequests.inc({ result: "hit" }, 0);
    this.invoicePoolRequests.inc({ result: "miss" }, 0);
    return {
      hit: () => this.invoicePoolRequests.inc({ result: "hit" }),
      miss: () => this.invoicePoolRequests.inc({ result: "miss" }),
      expired: (count) => this.invoicePoolExpired.inc(count),
    };
  }

  /** Reads the invoice pool's size and its refills in flight when Prometheus scrapes. */
  observeInvoicePool(size: () => number, creating: () => number): void {
    this.invoicePoolSize = size;
    this.invoicePoolInFlight = creating;
  }

  /** A service's request-duration series of the request path, bound once. */
  requestPhases(service: string): RequestPhases {
    let phases = this.phases.get(service);
    if (!phases) {
      const series = (phase: string) => this.requestDuration.series({ service, phase });
      phases = { auth: series("auth"), upstreamTtfb: series("upstream_ttfb"), total: series("total") };
      this.phases.set(service, phases);
    }
    return phases;
  }

  /** Counts an invoice once, when it is first known to be paid. */
  recordPaid(payment: { service: string; sats: number }): void {
    this.invoicesSettled.inc({ service: payment.service });
    // An invoice buys access or a balance before any model is chosen; charges by model are l402_charged_*.
    this.revenueSats.inc({ service: payment.service, model: "any" }, payment.sats);
  }

  /** Times an LND call and records its outcome. */
  async timeLnd<T>(method: string, call: () => Promise<T>): Promise<T> {
    const stop = this.lndCallDuration.startTimer({ method });
    try {
      const result = await call();
      this.lastLndCallOk = true;
      return result;
    } catch (error) {
      this.lndCallErrors.inc({ method });
      this.lastLndCallOk = false;
      throw error;
    } finally {
      stop();
    }
  }
}
