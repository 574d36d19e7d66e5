import type { IncomingHttpHeaders, IncomingMessage as Request, ServerResponse as Response } from "node:http";
import { BALANCE_HEADER, COST_HEADER, RESERVED_HEADER } from "@l402-gateway/l402";
import type { Logger } from "pino";
import type { ServiceConfig } from "../config/schema.js";
import type { CanonicalTarget } from "../http/canonical-target.js";
import { readBody } from "../http/read-body.js";
import { type LlmRequest, llmKindOf, parseLlmRequest, upstreamBody } from "../llm/llm-request.js";
import type { GatewayMetrics } from "../metrics/metrics.js";
import type { PriceBook } from "../pricing/price-book.js";
import type { Pricer } from "../pricing/pricer.js";
import { costOf, type Quote } from "../pricing/quote.js";
import type { ForwardOptions, ForwardOutcome, ResponsePlan } from "../proxy/proxy.js";
import type { Charge, TokenRecord, TokenStore } from "../store/store.js";
import type { AuthResult } from "../tokens/authenticator.js";
import type { Challenge, Challenger } from "../tokens/challenger.js";
import type { TokenCounters } from "../upstream/token-counter.js";
import { BoundedLabel } from "./bounded-label.js";
import { requestedDeposit } from "./deposit.js";
import { SseUsageTap, type Usage, usageFromJson } from "./usage-tap.js";

export { BALANCE_HEADER, COST_HEADER, RESERVED_HEADER };

export interface MeteredOutcome {
  readonly status: number;
  readonly code?: string;
}

export interface MeteredDeps {
  readonly store: TokenStore;
  readonly book: PriceBook;
  readonly pricer: Pricer;
  /** The upstreams' token counters, for a stream cut short before the upstream reported its usage. */
  readonly counters: TokenCounters;
  readonly challenger: Challenger;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  readonly maxBodyBytes: number;
  /**
   * Takes one of the client's challenges from the rate limit: undefined when admitted, else the 429 it answered.
   * Unpaid requests pass it before any token counting, so they cannot make the upstream work at will.
   */
  readonly admitChallenge: (req: Request, res: Response, service: ServiceConfig) => MeteredOutcome | undefined;
  /** Sends a 402 built by `issue` (after admitChallenge); throws LightningUnavailableError when LND is down. */
  readonly sendChallenge: (
    req: Request,
    res: Response,
    service: ServiceConfig,
    code: string,
    issue: () => Promise<Challenge>,
  ) => Promise<MeteredOutcome>;
  readonly forward: (
    req: Request,
    res: Response,
    service: ServiceConfig,
    options: ForwardOptions,
  ) => Promise<ForwardOutcome>;
}

/** One reservation's life: it is closed exactly once, with the first charge decided. */
class OpenReservation {
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

  async handle(
    req: Request,
    res: Response,
    service: ServiceConfig,
    target: CanonicalTarget,
    auth: AuthResult,
  ): Promise<MeteredOutcome> {
    const pricing = this.deps.book.pricing(service.name);
    if (!pricing) throw new Error(`service ${service.name} has no pricing`);
    const paid = auth.ok && auth.token.metered;
    let llm: LlmRequest | undefined;
    let deposit: number | undefined;
    // A request refused here (bad body, bad deposit, unpriced) throws to the pipeline's error map.
    deposit = requestedDeposit(req.headers, pricing);
    const kind = llmKindOf(req.method ?? "GET", target.key);
    if (kind) llm = parseLlmRequest(kind, req.headers, await readBody(req, this.deps.maxBodyBytes), pricing);
    if (!paid) {
      const limited = this.deps.admitChallenge(req, res, service);
      if (limited) return limited;
    }
    const quote = await this.deps.pricer.quote(service, { method: req.method ?? "GET", path: target.key }, llm);

    if (!paid) {
      const reason = auth.ok
        ? { code: "token_not_metered", message: "this token was bought before the service was metered; buy a new one" }
        : { code: auth.code, message: auth.message };
      const amount = Math.max(quote.worstCaseMsat, deposit ?? 0);
      return this.deps.sendChallenge(req, res, service, reason.code, () =>
        this.deps.challenger.meteredChallenge(service, quote, amount, reason),
      );
    }

    const token = auth.token;
    const reservation = await this.deps.store.reserve(token.tokenId, quote.worstCaseMsat, new Date());
    if (!reservation.ok) {
      const amount = Math.max(quote.worstCaseMsat - reservation.balanceMsat, deposit ?? 0, pricing.deposit.minMsat);
      const limited = this.deps.admitChallenge(req, res, service);
      if (limited) return limited;
      const outcome = await this.deps.sendChallenge(req, res, service, "insufficient_balance", () =>
        this.deps.challenger.topUp(service, auth, quote, amount, reservation.balanceMsat),
      );
      if (outcome.status === 402) this.deps.metrics.topUpsIssued.inc({ service: service.name });
      return outcome;
    }
    this.deps.metrics.paidRequests.inc({ service: service.name, scheme: token.scheme });
    const open = new OpenReservation(
      this.deps,
      reservation.id,
      quote,
      service.name,
      this.modelLabels.value(quote.model),
    );
    return this.forwardMetered(req, res, service, token, llm, open, reservation.balanceMsat);
  }

  private async forwardMetered(
    req: Request,
    res: Response,
    service: ServiceConfig,
    token: TokenRecord,
    llm: LlmRequest | undefined,
    open: OpenReservation,
    balanceAfterReserve: number,
  ): Promise<MeteredOutcome> {
    const quote = open.quote;
    let tap: SseUsageTap | undefined;
    const costHeaders = (settled: { chargedMsat: number; balanceMsat: number }) => ({
      [COST_HEADER]: String(settled.chargedMsat),
      [BALANCE_HEADER]: String(settled.balanceMsat),
    });
    const plan = async (status: number, headers: IncomingHttpHeaders): Promise<ResponsePlan> => {
      if (status >= 400) return { headers: costHeaders(await open.close({ amountMsat: 0, reason: "failed" })) };
      const contentType = String(headers["content-type"] ?? "");
      if (contentType.includes("text/event-stream")) {
        tap = new SseUsageTap(llm !== undefined && !llm.clientWantsUsage, async () => {
          const settled = await open.close(this.chargeFor(quote, tap?.usage));
          return `: l402 cost_msat=${settled.chargedMsat} balance_msat=${settled.balanceMsat}\n\n`;
        });
        return {
          headers: { [RESERVED_HEADER]: String(quote.worstCaseMsat), [BALANCE_HEADER]: String(balanceAfterReserve) },
          transform: tap,
        };
      }
      if (contentType.includes("json")) {
        return { buffered: async (body) => costHeaders(await open.close(this.chargeFor(quote, usageFromJson(body)))) };
      }
      return { headers: costHeaders(await open.close(this.chargeFor(quote, undefined))) };
    };
    let outcome: ForwardOutcome;
    try {
      const priced = llm ? { body: upstreamBody(llm), bodyContentType: "application/json" } : {};
      outcome = await this.deps.forward(req, res, service, { ...priced, plan });
    } finally {
      if (!open.done) await this.closeUnfinished(service, open, tap);
    }
    this.deps.log.debug({ service: service.name, tokenId: token.tokenId.slice(0, 8) }, "metered request done");
    return outcome.ok ? { status: outcome.status } : { status: outcome.status, code: outcome.code };
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
    let completionTokens = 0;
    if (tap.deliveredText !== "") {
      try {
        completionTokens = await this.deps.counters.of(service.name).textTokens(tap.deliveredText, false);
      } catch {
        // The tokenizer died with the upstream: count the text events delivered (one per token on llama.cpp-style
        // servers), never more than max_tokens.
        completionTokens = Math.min(tap.deliveredChunks, quote.maxTokens);
      }
    }
    const usage = { promptTokens: quote.promptTokens, completionTokens };
    await open.close({ amountMsat: costOf(quote, usage), ...tokenCounts(usage), reason: "partial" });
  }

  private chargeFor(quote: Quote, usage: Usage | undefined): Omit<Charge, "service" | "model"> {
    if (quote.kind === "per_call") return { amountMsat: quote.worstCaseMsat, reason: "fixed" };
    if (!usage) return { amountMsat: quote.worstCaseMsat, reason: "no_usage" };
    return { amountMsat: costOf(quote, usage), ...tokenCounts(usage), reason: "usage" };
  }
}

function tokenCounts(usage: Usage): { promptTokens: number; completionTokens: number } {
  return { promptTokens: usage.promptTokens, completionTokens: usage.completionTokens };
}
