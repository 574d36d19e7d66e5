import type { IncomingHttpHeaders, IncomingMessage as Request } from "node:http";
import {
  BALANCE_HEADER,
  COST_HEADER,
  formatStreamPaymentReceipt,
  LIGHTNING_METHOD,
  PAYMENT_RECEIPT_EVENT,
  RESERVED_HEADER,
} from "@l402-gateway/l402";
import type { Logger } from "pino";
import type { ServiceConfig } from "../config/schema.js";
import type { CanonicalTarget } from "../http/canonical-target.js";
import { readBody } from "../http/read-body.js";
import { type LlmRequest, upstreamBody } from "../llm/llm-request.js";
import type { GatewayMetrics } from "../metrics/metrics.js";
import type { PriceBook } from "../pricing/price-book.js";
import type { Pricer } from "../pricing/pricer.js";
import { costOf, type Quote } from "../pricing/quote.js";
import type { ForwardOptions, ResponsePlan } from "../proxy/proxy.js";
import type { Charge, Reservations, TokenRecord } from "../store/store.js";
import type { Authenticated, AuthResult } from "../tokens/authenticator.js";
import type { Reason } from "../tokens/challenger.js";
import type { TokenCounters } from "../upstream/token-counter.js";
import { BoundedLabel } from "./bounded-label.js";
import { newTokenDepositMsat, priceMeteredRequest, readMeteredRequest } from "./metered-price.js";
import { SseUsageTap, type Usage, usageFromJson } from "./usage-tap.js";

export { BALANCE_HEADER, COST_HEADER, RESERVED_HEADER };

/** The client's challenge rate limit: seconds until the client of `req` may have a challenge, 0 having taken one. */
export interface ChallengeLimit {
  waitFor(req: Request): number;
}

export interface MeteredDeps {
  readonly store: Reservations;
  readonly book: PriceBook;
  readonly pricer: Pricer;
  /** The upstreams' token counters, for a stream cut short before the upstream reported its usage. */
  readonly counters: TokenCounters;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  readonly maxBodyBytes: number;
  /** Unpaid requests pass it before any token counting, so they cannot make the upstream work at will. */
  readonly limit: ChallengeLimit;
}

/** A reserved request, ready to be forwarded and then accounted (see MeteredHandler.account). */
export interface MeteredReservation {
  readonly service: ServiceConfig;
  readonly token: TokenRecord;
  readonly llm: LlmRequest | undefined;
  readonly open: OpenReservation;
  readonly balanceAfterReserve: number;
}

/**
 * What the metered admit stage decides: out of challenges (answer 429), a new token's 402 for `amountMsat`, a
 * top-up 402 for a token whose balance cannot cover the quote, or the quote's worst case reserved.
 */
export type MeteredAdmission =
  | { readonly kind: "rateLimited"; readonly waitSeconds: number }
  | { readonly kind: "challenge"; readonly quote: Quote; readonly amountMsat: number; readonly reason: Reason }
  | {
      readonly kind: "topUp";
      readonly presented: Authenticated;
      readonly quote: Quote;
      readonly amountMsat: number;
      readonly balanceMsat: number;
    }
  | { readonly kind: "reserved"; readonly reservation: MeteredReservation };

/** One reservation's life: it is closed exactly once, with the first charge decided. */
export class OpenReservation {
  private closing: Promise<{ chargedMsat: number; balanceMsat: number }> | undefined;

  constructor(
    private readonly deps: MeteredDeps,
    readonly id: number,
    readonly quote: Quote,
    private readonly service: string,
    private readonly modelLabel: string,
  ) {}

  get done(): boolean {
    return this.closing !== undefined;
  }

  close(charge: Omit<Charge, "service" | "model">): Promise<{ chargedMsat: number; balanceMsat: number }> {
    this.closing ??= (async () => {
      const model = this.quote.model?.slice(0, 100) ?? "-";
      const result = await this.deps.store.closeReservation(
        this.id,
        { ...charge, service: this.service, model },
        new Date(),
      );
      const chargedMsat = result?.chargedMsat ?? 0;
      this.deps.metrics.meteredRequests.inc({ service: this.service, outcome: charge.reason });
      this.deps.metrics.chargedMsat.inc({ service: this.service, model: this.modelLabel }, chargedMsat);
      if (charge.reason === "no_usage") this.deps.metrics.usageMissing.inc({ service: this.service });
      return { chargedMsat, balanceMsat: result?.balanceMsat ?? 0 };
    })();
    return this.closing;
  }
}

/**
 * Prepaid metering for a service with pricing rules: quote the request, reserve its worst case from the token's
 * balance (or answer 402 with a new token or a top-up), forward, then charge what the upstream reports it used and
 * return the rest of the reservation.
 */
export class MeteredHandler {
  private readonly modelLabels = new BoundedLabel(20);

  constructor(private readonly deps: MeteredDeps) {}

  /**
   * The admit stage: reads and prices the request (a refused body, deposit or price throws to the error map), then
   * decides. An unpaid request is rate limited before it is priced; a paid one only when it needs a top-up.
   */
  async admit(
    req: Request,
    service: ServiceConfig,
    target: CanonicalTarget,
    auth: AuthResult,
  ): Promise<MeteredAdmission> {
    const pricing = this.deps.book.pricing(service.name);
    if (!pricing) throw new Error(`service ${service.name} has no pricing`);
    const line = { method: req.method ?? "GET", path: target.key };
    const body = () => readBody(req, this.deps.maxBodyBytes);
    if (!auth.ok || !auth.token.metered) {
      const { depositMsat, llm } = await readMeteredRequest(pricing, line, req.headers, body);
      const waitSeconds = this.deps.limit.waitFor(req);
      if (waitSeconds > 0) return { kind: "rateLimited", waitSeconds };
      const quote = await this.deps.pricer.quote(service, line, llm);
      const reason = auth.ok
        ? { code: "token_not_metered", message: "this token was bought before the service was metered; buy a new one" }
        : { code: auth.code, message: auth.message };
      return { kind: "challenge", quote, amountMsat: newTokenDepositMsat(quote, depositMsat), reason };
    }
    const priced = await priceMeteredRequest(this.deps.pricer, service, pricing, line, req.headers, body);
    const { quote, depositMsat, llm } = priced;
    const token = auth.token;
    const reservation = await this.deps.store.reserve(token.tokenId, quote.worstCaseMsat, new Date());
    if (!reservation.ok) {
      const waitSeconds = this.deps.limit.waitFor(req);
      if (waitSeconds > 0) return { kind: "rateLimited", waitSeconds };
      const amountMsat = Math.max(
        quote.worstCaseMsat - reservation.balanceMsat,
        depositMsat ?? 0,
        pricing.deposit.minMsat,
      );
      return { kind: "topUp", presented: auth, quote, amountMsat, balanceMsat: reservation.balanceMsat };
    }
    this.deps.metrics.paidRequests.inc({ service: service.name, scheme: token.scheme });
    const modelLabel = this.modelLabels.value(quote.model);
    const open = new OpenReservation(this.deps, reservation.id, quote, service.name, modelLabel);
    return {
      kind: "reserved",
      reservation: { service, token, llm, open, balanceAfterReserve: reservation.balanceMsat },
    };
  }

  /**
   * The account stage: what to forward (the priced body) and the response plan that charges from the usage the
   * upstream reports and returns the rest. The caller forwards with `options`, then calls `finish` whatever happened.
   */
  account(reservation: MeteredReservation): MeteredAccount {
    return new MeteredAccount(this, reservation);
  }

  /** Closes a reservation the response plan did not: failed before any answer, or a stream cut short. */
  async finish(account: MeteredAccount): Promise<void> {
    const { open, service, token } = account.reservation;
    if (!open.done) await this.closeUnfinished(service, open, account.tap);
    this.deps.log.debug({ service: service.name, tokenId: token.tokenId.slice(0, 8) }, "metered request done");
  }

  /** A request that ended without a charge: failed before any answer, or a stream cut short. */
  private async closeUnfinished(service: ServiceConfig, open: OpenReservation, tap: SseUsageTap | undefined) {
    const quote = open.quote;
    if (!tap) {
      await open.close({ amountMsat: 0, reason: "failed" });
      return;
    }
    if (tap.usage) {
      await open.close(this.chargeFor(quote, tap.usage));
      return;
    }
    if (quote.kind === "per_call") {
      if (tap.deliveredText === "") await open.close({ amountMsat: 0, reason: "failed" });
      else await open.close({ amountMsat: quote.worstCaseMsat, reason: "partial" });
      return;
    }
    // The upstream accepted the stream, so it processed the prompt: that much is charged even when no token went out.
    // Its prompt is the quote's count: exact, or on an upstream with no tokenizer the bound the client was quoted
    // (the upstream reports the real count only at the end of a stream, which the client did not wait for).
    const counter = this.deps.counters.of(service.name);
    const completionTokens = await counter.deliveredTokens(tap.deliveredText, tap.deliveredChunks, quote.maxTokens);
    const usage = { promptTokens: quote.promptTokens, completionTokens };
    await open.close({ amountMsat: costOf(quote, usage), ...tokenCounts(usage), reason: "partial" });
  }

  chargeFor(quote: Quote, usage: Usage | undefined): Omit<Charge, "service" | "model"> {
    if (quote.kind === "per_call") return { amountMsat: quote.worstCaseMsat, reason: "fixed" };
    if (!usage) return { amountMsat: quote.worstCaseMsat, reason: "no_usage" };
    if (usage.promptTokens > quote.promptTokens && quote.promptCount !== undefined) {
      // Charged at most the reservation all the same; the operator's template allowance (or the kind) is wrong.
      this.deps.log.warn(
        { quoted: quote.promptTokens, reported: usage.promptTokens, count: quote.promptCount, model: quote.model },
        "the upstream reports more prompt tokens than the quote counted; raise tokenCounting.promptBound",
      );
    }
    return { amountMsat: costOf(quote, usage), ...tokenCounts(usage), reason: "usage" };
  }
}

function tokenCounts(usage: Usage): { promptTokens: number; completionTokens: number } {
  return { promptTokens: usage.promptTokens, completionTokens: usage.completionTokens };
}

/**
 * A Payment session's streamed answer ends with a `payment-receipt` event (before `data: [DONE]`): the session id,
 * and what this stream spent in sats (its charge rounded up to whole sats; the `: l402 cost_msat=` comment just
 * before it is exact) for one unit, a request being the session's unit.
 */
function streamReceiptEvent(sessionId: string, chargedMsat: number): string {
  const data = formatStreamPaymentReceipt({
    status: "success",
    method: LIGHTNING_METHOD,
    timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    reference: sessionId,
    spent: BigInt(Math.ceil(chargedMsat / 1000)),
    units: 1n,
  });
  return `event: ${PAYMENT_RECEIPT_EVENT}\ndata: ${data}\n\n`;
}

const costHeaders = (settled: { chargedMsat: number; balanceMsat: number }) => ({
  [COST_HEADER]: String(settled.chargedMsat),
  [BALANCE_HEADER]: String(settled.balanceMsat),
});

/** One reserved request's forward options and response plan; see MeteredHandler.account. */
export class MeteredAccount {
  /** The usage tap of a streamed answer, once the plan has chosen one. */
  tap: SseUsageTap | undefined;
  readonly options: ForwardOptions;

  constructor(
    private readonly handler: MeteredHandler,
    readonly reservation: MeteredReservation,
  ) {
    const { llm } = reservation;
    const plan = (status: number, headers: IncomingHttpHeaders) => this.plan(status, headers);
    // Literals, not `{ ...priced, plan }`: see Exchange.answered in proxy/proxy.ts.
    this.options = llm ? { body: upstreamBody(llm), bodyContentType: "application/json", plan } : { plan };
  }

  private async plan(status: number, headers: IncomingHttpHeaders): Promise<ResponsePlan> {
    const { open, llm, balanceAfterReserve } = this.reservation;
    const quote = open.quote;
    if (status >= 400) return { headers: costHeaders(await open.close({ amountMsat: 0, reason: "failed" })) };
    const contentType = String(headers["content-type"] ?? "");
    if (contentType.includes("text/event-stream")) {
      const { token } = this.reservation;
      const tap = new SseUsageTap(llm !== undefined && !llm.clientWantsUsage, async () => {
        const settled = await open.close(this.handler.chargeFor(quote, tap.usage));
        const cost = `: l402 cost_msat=${settled.chargedMsat} balance_msat=${settled.balanceMsat}\n\n`;
        return token.scheme === "payment" ? cost + streamReceiptEvent(token.tokenId, settled.chargedMsat) : cost;
      });
      this.tap = tap;
      return {
        headers: { [RESERVED_HEADER]: String(quote.worstCaseMsat), [BALANCE_HEADER]: String(balanceAfterReserve) },
        transform: tap,
      };
    }
    if (contentType.includes("json")) {
      return {
        buffered: async (body) => costHeaders(await open.close(this.handler.chargeFor(quote, usageFromJson(body)))),
      };
    }
    return { headers: costHeaders(await open.close(this.handler.chargeFor(quote, undefined))) };
  }
}
