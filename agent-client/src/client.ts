import { PAYMENT_RECEIPT_HEADER, parsePaymentReceipt } from "@l402-gateway/l402";
import { z } from "zod";
import { balanceOf, type TokenBalance } from "./balances.js";
import { type BudgetLimits, composeBudget, type Spending, spending } from "./budget.js";
import { validateChallenge } from "./challenge.js";
import { L402ClientError, type L402ClientErrorCode, type PriceQuote } from "./errors.js";
import type { L402Event } from "./events.js";
import { fetchGatewayQuote, type GatewayQuote } from "./gateway-quote.js";
import { type DecodedInvoice, invoicePaymentHash } from "./invoice.js";
import type { Resolver } from "./loopback.js";
import type { MacaroonInfo } from "./macaroon-info.js";
import { type OfferPreference, rankOffers } from "./offer-choice.js";
import { type ChargeOffer, type L402Offer, type Offer, readOffers, type SessionOffer } from "./offers.js";
import { CLEAR_REFUSAL_HINT, coolOffEnd, describeDuration } from "./pay-policy.js";
import { type ValidatedPaymentOffer, validatePaymentOffer } from "./payment-offers.js";
import { Payer } from "./payments.js";
import { authorizationOf, type Presented, paymentHashOf } from "./presented.js";
import { queryReceipts, type Receipt, type ReceiptQuery } from "./receipts.js";
import { type SendOptions, sendFollowing } from "./redirects.js";
import { ReplayableRequest } from "./request-body.js";
import { credentialSecrets } from "./scrub.js";
import { challengeNeedsRefresh, openSessionFor, storedChallenge, updateSession } from "./sessions.js";
import { KeyedMutex } from "./single-flight.js";
import { MemoryStore } from "./store/memory.js";
import { budgetLimitsSchema, type Refund, type Refusal, type StoredSession, type StoredToken } from "./store/state.js";
import type { ClientStore } from "./store/store.js";
import type { Timeouts } from "./timed-fetch.js";
import { chooseToken, pathScope, rememberRoute, removeToken, tokenFor } from "./tokens.js";
import { fetchThrough, OriginGuard } from "./transport.js";
import type { Wallet } from "./wallet/wallet.js";

/** Limits for one call of `fetchWithin`; they can only narrow what the client allows. */
export interface CallLimits {
  /** Cap on this call's payment, amount plus maximum fee; the client's cap applies when it is lower. */
  readonly maxCostSats?: number;
  /** Asked before paying (after every cap and budget allowed it); false refuses with `payment_declined`. */
  readonly approve?: (quote: PriceQuote) => Promise<boolean>;
  /** Told the payment hash of a payment this call made. */
  readonly onPaid?: (paymentHash: string) => void;
  /**
   * Told the secrets of each credential the call presents (the Authorization value, the macaroon, preimages), so
   * that what shows the response to a model or a log can scrub a server's echo of them (see `scrubSecrets`).
   */
  readonly onCredential?: (secrets: readonly string[]) => void;
}

/** What a 402 led to: the credential to present next, and the payment made for it, if one was. */
interface Obtained {
  readonly presented: Presented;
  readonly paid?: PriceQuote;
}

/** The drop-in fetch: same arguments and result as the global fetch. */
export type L402Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface L402ClientOptions {
  readonly wallet: Wallet;
  /** Tokens, receipts and budget spending; defaults to a MemoryStore (nothing survives the process). */
  readonly store?: ClientStore;
  /** Cap per payment on amount plus `maxFeeSats`; default 1000. */
  readonly maxCostSats?: number;
  /** Routing fee limit per payment, handed to the wallet; default 10. */
  readonly maxFeeSats?: number;
  /**
   * Spending limits. When no global limit is set (hourly, daily or total: option absent, `{}`, or only
   * `perOriginSats`), `DEFAULT_BUDGET`'s hourly and daily limits apply, so that a new user is protected before
   * configuring anything; a per-origin limit is added to them, never instead. To spend more, set the limits you want.
   */
  readonly budget?: BudgetLimits;
  /**
   * Origins that may be paid again although they took a payment and did not serve it (`origin_refused_token`):
   * they answered 402 to the credential just paid for, or never answered the paid request. A paid credential such
   * an origin then serves clears its record (so does `clearRefusals`).
   */
  readonly allowRefusedOrigins?: readonly string[];
  /**
   * How long an origin that took a payment (any scheme: L402 token, charge, session deposit or top-up) and did not
   * serve it gets no new payment from this client; recorded in the store, so a restart remembers. Default 24 h.
   */
  readonly refusalCoolOffMs?: number;
  /**
   * After a payment, how many more times the paid request is sent with the paid credential when its answer is lost
   * (connection reset, no response headers within `timeouts.headersMs`); default 2.
   */
  readonly paidRetries?: number;
  /**
   * The longest an invoice may keep a payment locked, in blocks (its final CLTV delta plus its route hints); a hold
   * invoice never settled keeps the amount locked that long. Default 1008 (about a week); LND itself allows 2016.
   */
  readonly maxLockBlocks?: number;
  /** Payments in flight at once, all origins together (one per origin at most, always); default 4. */
  readonly maxPendingPayments?: number;
  /** How long one payment may take before it is reported as `payment_timeout` (and kept pending); default 60 s. */
  readonly paymentTimeoutMs?: number;
  /** Pay nothing: a challenge that would be paid throws L402ClientError `dry_run` with its `quote`. */
  readonly dryRun?: boolean;
  /**
   * Per request (each attempt): `headersMs` from sending until the response headers arrive, connecting included
   * (default 60 s), `idleMs` the longest pause in the response body (default 60 s). Past either the request is
   * aborted with `request_timeout`. A token already paid for stays stored.
   */
  readonly timeouts?: Partial<Timeouts>;
  /**
   * The fetch underneath; default the global fetch. It must honour the request's signal for timeouts to work. It
   * gets requests with `redirect: "manual"`: the client follows redirects itself, checking each hop.
   */
  readonly fetch?: (request: Request) => Promise<Response>;
  /**
   * Send requests, credentials and payments to plain-HTTP origins on the network (loopback is always allowed).
   * Off by default: an L402 credential is a bearer token, and anyone on the path could read and spend it.
   */
  readonly allowInsecure?: boolean;
  /**
   * How a plain-HTTP name is resolved to decide whether it is loopback (default: the system's resolver, as
   * connecting uses it); for tests.
   */
  readonly resolve?: Resolver;
  /**
   * A CA certificate to trust in addition to the public ones, for a gateway with a private CA: a PEM string, or
   * the path of a PEM file. Applies to the default fetch; a custom `fetch` brings its own TLS settings.
   */
  readonly ca?: string;
  /**
   * Which offer of a 402 to pay when several schemes are offered; see `OfferPreference`. Default: the smallest
   * outlay that covers the call.
   */
  readonly preference?: OfferPreference;
  /**
   * `close()` closes every open Payment session and every closable L402 prepaid token of the store (collecting the
   * refunds) before returning. Default false.
   */
  readonly closeSessionsOnClose?: boolean;
  /**
   * How long closing a session waits for the refund to reach the wallet before recording it as `pending`
   * (`resolveRefunds` looks again later); default 30 s. Only with a wallet that implements `receivedOn`.
   */
  readonly refundWaitMs?: number;
  readonly onEvent?: (event: L402Event) => void;
  /** Clock, for tests. */
  readonly now?: () => Date;
}

export { DEFAULT_BUDGET } from "./budget.js";

const optionsSchema = z.object({
  maxCostSats: z.number().int().positive().default(1000),
  maxFeeSats: z.number().int().nonnegative().default(10),
  budget: budgetLimitsSchema.default({}).transform(composeBudget),
  allowRefusedOrigins: z.array(z.string()).default([]),
  refusalCoolOffMs: z
    .number()
    .int()
    .nonnegative()
    .default(24 * 3_600_000),
  paidRetries: z.number().int().nonnegative().max(10).default(2),
  maxPendingPayments: z.number().int().positive().default(4),
  maxLockBlocks: z.number().int().positive().default(1008),
  paymentTimeoutMs: z.number().int().positive().default(60_000),
  dryRun: z.boolean().default(false),
  allowInsecure: z.boolean().default(false),
  timeouts: z
    .object({
      headersMs: z.number().int().positive().default(60_000),
      idleMs: z.number().int().positive().default(60_000),
    })
    .default({ headersMs: 60_000, idleMs: 60_000 }),
});

/**
 * Requests per call at most: the first try, cached tokens for the wanted service, and one paid retry. Each 402
 * either drops a token from the candidates or pays, and only one payment is allowed per call, so it ends anyway.
 */
const MAX_ATTEMPTS = 4;

export class L402Client {
  /** Use as `fetch`: pays 402 challenges within the caps and budgets, and reuses tokens. */
  readonly fetch: L402Fetch;
  readonly #store: ClientStore;
  readonly #payer: Payer;
  readonly #mutex = new KeyedMutex();
  readonly #baseFetch: (request: Request) => Promise<Response>;
  readonly #timeouts: Timeouts;
  readonly #maxLockBlocks: number;
  readonly #now: () => Date;
  readonly #dryRunMode: boolean;
  readonly #allowInsecure: boolean;
  readonly #guard: OriginGuard;
  readonly #budget: BudgetLimits;
  readonly #onEvent: (event: L402Event) => void;
  readonly #wallet: Wallet;
  readonly #preference: OfferPreference;
  readonly #closeSessionsOnClose: boolean;
  readonly #refundWaitMs: number;
  readonly #refusalCoolOffMs: number;
  readonly #paidRetries: number;

  constructor(options: L402ClientOptions) {
    const settings = optionsSchema.parse({
      maxCostSats: options.maxCostSats,
      maxFeeSats: options.maxFeeSats,
      budget: options.budget,
      allowRefusedOrigins: options.allowRefusedOrigins,
      refusalCoolOffMs: options.refusalCoolOffMs,
      paidRetries: options.paidRetries,
      maxPendingPayments: options.maxPendingPayments,
      maxLockBlocks: options.maxLockBlocks,
      paymentTimeoutMs: options.paymentTimeoutMs,
      dryRun: options.dryRun,
      allowInsecure: options.allowInsecure,
      timeouts: options.timeouts,
    });
    if (options.ca !== undefined && options.fetch !== undefined) {
      throw new TypeError("ca applies to the default fetch: give the custom fetch its own TLS settings instead");
    }
    this.#store = options.store ?? new MemoryStore();
    this.#now = options.now ?? (() => new Date());
    this.#guard = new OriginGuard(settings.allowInsecure, options.resolve);
    this.#baseFetch = options.fetch ?? fetchThrough(this.#guard, options.ca);
    this.#allowInsecure = settings.allowInsecure;
    this.#dryRunMode = settings.dryRun;
    this.#timeouts = settings.timeouts;
    this.#maxLockBlocks = settings.maxLockBlocks;
    this.#budget = settings.budget;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#wallet = options.wallet;
    this.#preference = options.preference ?? {};
    this.#closeSessionsOnClose = options.closeSessionsOnClose ?? false;
    this.#refundWaitMs = options.refundWaitMs ?? 30_000;
    this.#refusalCoolOffMs = settings.refusalCoolOffMs;
    this.#paidRetries = settings.paidRetries;
    this.#payer = new Payer({
      wallet: options.wallet,
      store: this.#store,
      policy: {
        budget: settings.budget,
        allowRefusedOrigins: new Set(settings.allowRefusedOrigins.map(originOf)),
        refusalCoolOffMs: settings.refusalCoolOffMs,
        maxPendingPayments: settings.maxPendingPayments,
      },
      maxCostSats: settings.maxCostSats,
      maxFeeSats: settings.maxFeeSats,
      paymentTimeoutMs: settings.paymentTimeoutMs,
      now: this.#now,
      onEvent: this.#onEvent,
    });
    this.fetch = (input, init) => this.#fetch(input, init, this.#dryRunMode);
  }

  /** Like fetch in dry-run mode: the response when no payment is needed, else the price that would be paid. */
  async preview(input: string | URL | Request, init?: RequestInit): Promise<Response | PriceQuote> {
    try {
      return await this.#fetch(input, init, true);
    } catch (error) {
      if (error instanceof L402ClientError && error.code === "dry_run" && error.quote) return error.quote;
      throw error;
    }
  }

  /**
   * What the gateway says this request would cost, asked before anything is paid or any invoice exists (its
   * `/l402/quote` endpoint), and whether this client would pay that now: `refusal` is the `over_cap` or
   * `budget_exceeded` error paying it would meet (a new credential's invoice plus the maximum fee), else null.
   * Throws `quote_failed` when the origin has no quote endpoint or cannot price the request.
   */
  async quote(
    input: string | URL | Request,
    init?: RequestInit,
    options: { maxCostSats?: number } = {},
  ): Promise<GatewayQuote & { readonly maxFeeSats: number; readonly refusal: L402ClientError | null }> {
    const request = await ReplayableRequest.from(input, init);
    const quote = await fetchGatewayQuote(request, this.#sendOptions());
    let refusal: L402ClientError | null = null;
    try {
      if (quote.invoiceSats > 0)
        await this.#payer.assertAffordable(quote.origin, quote.invoiceSats, options.maxCostSats);
    } catch (error) {
      if (!(error instanceof L402ClientError)) throw error;
      refusal = error;
    }
    return { ...quote, maxFeeSats: this.#payer.maxFeeSats, refusal };
  }

  /**
   * Like `fetch`, with limits for this call only: a lower cap (`maxCostSats`, amount plus maximum fee: a payment
   * above it is refused with `over_cap`), and `approve`, asked before a payment that every cap and budget allows
   * (false: refused with `payment_declined`). The client's own cap and budgets still apply; nothing here can raise
   * them. `onPaid` learns the payment hash of a payment this call made.
   */
  fetchWithin(input: string | URL | Request, init: RequestInit | undefined, limits: CallLimits): Promise<Response> {
    return this.#fetch(input, init, this.#dryRunMode, limits);
  }

  /** Receipts, newest first. Pending ones are payments whose outcome is not known yet. */
  async receipts(query?: ReceiptQuery): Promise<Receipt[]> {
    return queryReceipts(await this.#store.read(), query);
  }

  /** What each held credential (of one origin, or all) has left, as its gateway reports it. */
  async balances(origin?: string): Promise<TokenBalance[]> {
    const now = this.#now().getTime() / 1000;
    const held = (await this.#store.read()).tokens.filter(
      (token) => (origin === undefined || token.origin === originOf(origin)) && (token.validUntil ?? now + 1) > now,
    );
    return Promise.all(
      held.map((token) => balanceOf(token, authorizationOf({ kind: "token", token }), this.#sendOptions())),
    );
  }

  async tokens(): Promise<StoredToken[]> {
    return (await this.#store.read()).tokens;
  }

  /** Forgets tokens of an origin, or the one with this payment hash, or all; returns how many. */
  async removeTokens(filter: { origin?: string; paymentHash?: string } = {}): Promise<number> {
    return this.#store.update((state) => {
      const victims = state.tokens.filter(
        (token) =>
          (filter.origin === undefined || token.origin === filter.origin) &&
          (filter.paymentHash === undefined || token.paymentHash === filter.paymentHash),
      );
      for (const token of victims) removeToken(state, token.paymentHash);
      return victims.length;
    });
  }

  /**
   * Origins that took a payment and did not serve it, with when their cool-off ends; `active` false once it has
   * ended (they may be paid again).
   */
  async refusals(): Promise<(Refusal & { readonly until: string; readonly active: boolean })[]> {
    const now = this.#now().getTime();
    return (await this.#store.read()).refusals.map((refusal) => {
      const until = coolOffEnd(refusal, this.#refusalCoolOffMs);
      return { ...refusal, until: until.toISOString(), active: until.getTime() > now };
    });
  }

  /** The owner's word: origins (one, or all) recorded as refusing may be paid again now. Returns how many. */
  async clearRefusals(filter: { origin?: string } = {}): Promise<number> {
    const origin = filter.origin === undefined ? undefined : originOf(filter.origin);
    return this.#store.update((state) => {
      const before = state.refusals.length;
      state.refusals = state.refusals.filter((refusal) => origin !== undefined && refusal.origin !== origin);
      return before - state.refusals.length;
    });
  }

  async budget(): Promise<{ limits: BudgetLimits; spent: Spending }> {
    return { limits: this.#budget, spent: spending(await this.#store.read(), this.#now()) };
  }

  /** Payment sessions in the store, open and closed. */
  async sessions(): Promise<StoredSession[]> {
    return (await this.#store.read()).sessions;
  }

  /**
   * Closes the open Payment sessions (of one origin, or all) and collects their refunds: each is closed with the
   * `close` action echoing its latest challenge (refreshed first if it is about to expire), the server's receipt
   * says what it will refund, and the wallet is watched for the return invoice to be paid (`refundWaitMs`). The
   * refund is recorded on the deposit's receipt. A session the server never saw opened is opened first.
   */
  async closeSessions(filter: { origin?: string } = {}): Promise<ClosedSession[]> {
    const open = (await this.#store.read()).sessions.filter(
      (session) => session.status === "open" && (filter.origin === undefined || session.origin === filter.origin),
    );
    const closed: ClosedSession[] = [];
    for (const session of open) closed.push(await this.#mutex.run(session.origin, () => this.#close(session)));
    return closed;
  }

  /**
   * Closes the L402 prepaid tokens (of one origin, or all) at servers that offer it (`POST /l402/close`, this
   * project's gateway): the unspent balance is paid back to a new return invoice of the wallet and recorded on the
   * token's receipt, and the token is forgotten. A server without the endpoint (any answer that is not its JSON
   * reply) keeps its token untouched and is left out of the result.
   */
  async closeTokens(filter: { origin?: string } = {}): Promise<ClosedToken[]> {
    const tokens = (await this.#store.read()).tokens.filter(
      (token) => filter.origin === undefined || token.origin === filter.origin,
    );
    const closed: ClosedToken[] = [];
    for (const token of tokens) {
      const result = await this.#mutex.run(token.origin, () => this.#closeToken(token));
      if (result) closed.push(result);
    }
    return closed;
  }

  async #closeToken(token: StoredToken): Promise<ClosedToken | undefined> {
    const create = this.#wallet.createReturnInvoice?.bind(this.#wallet);
    if (!create) throw new L402ClientError("session_unsupported", "the wallet cannot make a return invoice");
    const { invoice } = await create({
      description: `refund of token ${token.paymentHash}`,
      expirySeconds: RETURN_INVOICE_MIN_SECONDS,
    });
    const request = await ReplayableRequest.from(`${token.origin}/l402/close`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ invoice }),
    });
    const response = await sendFollowing(request, authorizationOf({ kind: "token", token }), this.#sendOptions());
    const reply = tokenCloseReplySchema.safeParse(await response.json().catch(() => undefined));
    if (!response.ok || !reply.success) return undefined;
    const announcedSats = Math.floor(reply.data.refund.amount_msat / 1000);
    const receivedSats = announcedSats === 0 ? 0 : await this.#awaitRefund(invoice);
    const refund: Refund = {
      announcedSats,
      receivedSats: receivedSats ?? null,
      status: refundStatus(
        { sats: announcedSats, status: reply.data.refund.status === "succeeded" ? "succeeded" : null },
        receivedSats,
      ),
      returnInvoice: invoice,
      closedAt: this.#now().toISOString(),
    };
    await this.#recordRefund(token.paymentHash, refund);
    await this.#store.update((state) => removeToken(state, token.paymentHash));
    this.#onEvent({ type: "refund", origin: token.origin, reference: token.paymentHash, refund });
    return { origin: token.origin, paymentHash: token.paymentHash, service: token.service, refund };
  }

  /** Looks again at refunds recorded as pending: the wallet may have received them since. */
  async resolveRefunds(): Promise<Refund[]> {
    // Aperture v0.5.0 answers a close before its refund is sent and calls it pending, which reads as failed.
    const receiptsWithRefunds = (await this.#store.read()).receipts.filter(
      (receipt) => receipt.refund?.status === "pending" || receipt.refund?.status === "failed",
    );
    const resolved: Refund[] = [];
    for (const receipt of receiptsWithRefunds) {
      const refund = receipt.refund;
      if (!refund) continue;
      const received = await this.#received(refund.returnInvoice);
      if (received === undefined || received === 0) continue;
      const updated: Refund = { ...refund, receivedSats: received, status: "succeeded" };
      await this.#recordRefund(receipt.paymentHash, updated);
      resolved.push(updated);
    }
    return resolved;
  }

  /**
   * Ends the client: with `closeSessionsOnClose`, closes every open Payment session and every L402 prepaid token
   * whose server offers a close, collecting the refunds, before returning.
   */
  async close(): Promise<{ sessions: ClosedSession[]; tokens: ClosedToken[] }> {
    if (!this.#closeSessionsOnClose) return { sessions: [], tokens: [] };
    return { sessions: await this.closeSessions(), tokens: await this.closeTokens() };
  }

  async #close(stored: StoredSession): Promise<ClosedSession> {
    let session = await this.#refreshed(stored, stored.url);
    if (!session.opened) {
      // The deposit is paid but the server has not seen the session: open it, else it cannot be closed.
      const opening = await this.#send(session.url, authorizationOf({ kind: "session", session }));
      await opening.body?.cancel();
      if (opening.status === 402) throw sessionRefused(session, "open");
      session = (await this.#store.update((state) =>
        updateSession(state, session.sessionId, (draft) => {
          draft.opened = true;
        }),
      )) ?? { ...session, opened: true };
    }
    const response = await this.#send(session.url, authorizationOf({ kind: "close", session }));
    await response.body?.cancel();
    if (response.status === 402) throw sessionRefused(session, "close");
    const announced = announcedRefund(response.headers);
    await this.#store.update((state) =>
      updateSession(state, session.sessionId, (draft) => {
        draft.status = "closed";
      }),
    );
    const receivedSats = announced.sats === 0 ? 0 : await this.#awaitRefund(session.returnInvoice);
    const refund: Refund = {
      announcedSats: announced.sats,
      receivedSats: receivedSats ?? null,
      status: refundStatus(announced, receivedSats),
      returnInvoice: session.returnInvoice,
      closedAt: this.#now().toISOString(),
    };
    await this.#recordRefund(session.sessionId, refund);
    this.#onEvent({ type: "refund", origin: session.origin, reference: session.sessionId, refund });
    return { origin: session.origin, sessionId: session.sessionId, paidSats: session.paidSats, refund };
  }

  async #send(url: string, authorization: string): Promise<Response> {
    return sendFollowing(await ReplayableRequest.from(url, { method: "GET" }), authorization, this.#sendOptions());
  }

  /** Sats received on the return invoice, waiting up to `refundWaitMs`; undefined when the wallet cannot tell. */
  async #awaitRefund(returnInvoice: string): Promise<number | undefined> {
    const deadline = Date.now() + this.#refundWaitMs;
    for (;;) {
      const received = await this.#received(returnInvoice);
      if (received === undefined || received > 0 || Date.now() >= deadline) return received;
      await new Promise((resolveWait) => setTimeout(resolveWait, REFUND_POLL_MS));
    }
  }

  async #received(returnInvoice: string): Promise<number | undefined> {
    const receivedOn = this.#wallet.receivedOn?.bind(this.#wallet);
    if (!receivedOn) return undefined;
    try {
      return await receivedOn(invoicePaymentHash(returnInvoice));
    } catch {
      return undefined;
    }
  }

  async #recordRefund(paymentHash: string, refund: Refund): Promise<void> {
    await this.#store.update((state) => {
      const receipt = state.receipts.find((candidate) => candidate.paymentHash === paymentHash);
      if (receipt) receipt.refund = refund;
    });
  }

  /** Resolves payments left pending by a crash or a timeout through the wallet; returns those still pending. */
  resolvePending(): Promise<Receipt[]> {
    return this.#payer.resolvePending();
  }

  #sendOptions(): SendOptions {
    return { send: this.#baseFetch, timeouts: this.#timeouts, allowInsecure: this.#allowInsecure, guard: this.#guard };
  }

  async #fetch(
    input: string | URL | Request,
    init: RequestInit | undefined,
    dryRun: boolean,
    limits: CallLimits = {},
  ): Promise<Response> {
    const request = await ReplayableRequest.from(input, init);
    const { origin, pathname } = request.url;
    const scope = pathScope(pathname);
    // A payment for this origin in progress will likely buy the token this call needs: wait for it first.
    await this.#mutex.idle(origin);
    let presented = await this.#firstCredential(origin, scope, request.url.href);
    const refused = new Set<string>();
    /** The payment this call made: every request after it presents the credential it bought. */
    let paid: PriceQuote | undefined;
    for (let attempt = 1; ; attempt++) {
      const authorization = presented && authorizationOf(presented);
      if (presented) limits.onCredential?.(credentialSecrets(presented));
      const response = paid
        ? await this.#sendPaid(request, authorization, paid)
        : await sendFollowing(request, authorization, this.#sendOptions());
      if (response.status !== 402) {
        if (presented) await this.#accepted(presented, origin, scope);
        // A top-up answered by the draft's acknowledgement (our gateway) served nothing: ask again as bearer. The
        // call stays a paid one: a 402 to that bearer request is a refusal of the top-up just paid.
        // Aperture instead forwards the top-up request itself, and its answer is the caller's.
        if (presented?.kind === "topUp" && (await isTopUpAcknowledgement(response, presented.session.sessionId))) {
          const { sessionId } = presented.session;
          const session = (await this.#store.read()).sessions.find((stored) => stored.sessionId === sessionId);
          if (session) {
            presented = { kind: "session", session };
            continue;
          }
        }
        if (paid && response.status >= 500) await this.#recordRefusal(paid, "unserved");
        else if (response.status < 400) {
          if (paid) await this.#forgiveRefusal(origin);
          else if (presented) await this.#forgiveRefusal(origin, paymentHashOf(presented));
        }
        return response;
      }
      // A 402 of any scheme to the credential just paid for is a refusal, also one that asks for another payment.
      if (paid) await this.#recordRefusal(paid, "refused");
      const offers = readOffersOrDiscard(response);
      if (offers.length === 0) return response;
      await response.body?.cancel();
      assertSameOrigin(response, origin);
      const l402 = offers.find((offer) => offer.kind === "l402");
      this.#onEvent({ type: "challenge", origin, service: l402?.macaroon.service ?? "", url: request.url.href });
      if (presented?.kind === "token") await this.#refuse(presented.token, l402?.macaroon, refused);
      // An `open` refused may be a concurrent call's open winning: the session is still tried as bearer once opened.
      else if (presented && !(presented.kind === "session" && !presented.session.opened)) {
        refused.add(paymentHashOf(presented));
      }
      if (paid) {
        throw new L402ClientError(
          "payment_refused",
          `${origin} answered 402 again after being paid ${paid.amountSats} sats (${describeScheme(paid)}, hash ` +
            `${paid.paymentHash}); not paying it again until ${this.#coolOffEnd()} (cool-off ` +
            `${describeDuration(this.#refusalCoolOffMs)}); ${CLEAR_REFUSAL_HINT}`,
          { quote: paid, paymentHash: paid.paymentHash },
        );
      }
      if (attempt >= MAX_ATTEMPTS) {
        throw new L402ClientError("payment_refused", `${origin} answered 402 again after ${attempt} attempts`);
      }
      const held = presented?.kind === "session" ? presented.session : undefined;
      const next = await this.#mutex.run(origin, () =>
        held?.opened
          ? this.#topUpOrObtain(held, offers, origin, refused, dryRun, limits)
          : this.#obtain(offers, origin, refused, dryRun, request.url.href, limits),
      );
      presented = next.presented;
      paid = next.paid;
    }
  }

  /**
   * Sends the request that presents the credential this call just paid for. An answer lost on the way (connection
   * reset, no response headers in time) is asked for again with the same credential, up to `paidRetries` times:
   * the credential is what makes that safe (a token or session serves the retry from what was paid; a server
   * that already used a charge refuses it rather than charging twice). Then the origin is recorded as unserved
   * (no new payment during its cool-off) and `paid_not_served` says what was paid and how to resume.
   */
  async #sendPaid(request: ReplayableRequest, authorization: string | undefined, paid: PriceQuote): Promise<Response> {
    let lost: unknown;
    for (let attempt = 0; attempt <= this.#paidRetries; attempt++) {
      try {
        return await sendFollowing(request, authorization, this.#sendOptions());
      } catch (error) {
        if (!isLostAnswer(error) || request.signal.aborted) throw error;
        lost = error;
        if (attempt === this.#paidRetries) break;
        this.#onEvent({
          type: "paid_retry",
          origin: paid.origin,
          paymentHash: paid.paymentHash,
          retry: attempt + 1,
          reason: describeFailure(error),
        });
      }
    }
    await this.#recordRefusal(paid, "unserved");
    throw new L402ClientError(
      "paid_not_served",
      `${paid.origin} was paid ${paid.amountSats} sats (${describeScheme(paid)}, hash ${paid.paymentHash}) and did ` +
        `not answer the paid request (${describeFailure(lost)}; ${this.#paidRetries + 1} tries with the paid ` +
        `credential). ${resumeHint(paid)} No new payment goes to ${paid.origin} until ${this.#coolOffEnd()} ` +
        `(cool-off ${describeDuration(this.#refusalCoolOffMs)}); ${CLEAR_REFUSAL_HINT}.`,
      { quote: paid, paymentHash: paid.paymentHash },
      { cause: lost },
    );
  }

  #coolOffEnd(): string {
    return new Date(this.#now().getTime() + this.#refusalCoolOffMs).toISOString();
  }

  /** The credential to try first: an open session of the origin, else the token the route hints name. */
  async #firstCredential(origin: string, scope: string, url: string): Promise<Presented | undefined> {
    const state = await this.#store.read();
    const session = openSessionFor(state, origin, scope);
    if (session) return { kind: "session", session: await this.#refreshed(session, url) };
    const token = chooseToken(state, origin, scope, this.#now());
    return token && { kind: "token", token };
  }

  /** After a non-402 answer: the route is remembered, a session marked opened, a top-up's challenge kept. */
  async #accepted(presented: Presented, origin: string, scope: string): Promise<void> {
    const now = this.#now().toISOString();
    switch (presented.kind) {
      case "token":
        await this.#remember(origin, scope, presented.token.service);
        return;
      case "session":
        await this.#store.update((state) =>
          updateSession(state, presented.session.sessionId, (session) => {
            session.opened = true;
            session.lastUsedAt = now;
          }),
        );
        return;
      case "topUp":
        // The top-up challenge is the freshest one the server bound: later bearer requests echo it.
        await this.#store.update((state) =>
          updateSession(state, presented.session.sessionId, (session) => {
            session.challenge = storedChallenge(presented.challenge);
            session.lastUsedAt = now;
          }),
        );
        return;
      case "charge":
        return;
    }
  }

  /**
   * A bearer request refused: the balance ran out. A session offer in the 402 is a top-up (its new invoice pays more
   * into the same session); without one, the session is left as it is and the offers are chosen among as usual.
   */
  async #topUpOrObtain(
    session: StoredSession,
    offers: readonly Offer[],
    origin: string,
    refused: ReadonlySet<string>,
    dryRun: boolean,
    limits: CallLimits,
  ): Promise<Obtained> {
    const offer = offers.find((candidate): candidate is SessionOffer => candidate.kind === "session");
    if (!offer) return this.#obtain(offers, origin, refused, dryRun, session.url, limits, { excludeSessions: true });
    const validated = this.#validateOffer(offer);
    const quote = this.#payer.quoteOffer(validated, origin, "topUp");
    if (dryRun) await this.#dryRun(quote);
    await this.#approve(quote, limits);
    const result = await this.#payer.payOffer(
      validated,
      origin,
      "topUp",
      (state) => {
        updateSession(state, session.sessionId, (stored) => {
          stored.paidSats += validated.invoice.amountSats;
        });
      },
      undefined,
      limits.maxCostSats,
    );
    limits.onPaid?.(result.paymentHash);
    return {
      presented: { kind: "topUp", session, challenge: offer.challenge, topUpPreimage: result.preimage },
      paid: quote,
    };
  }

  /**
   * Under the origin's lock: a credential bought meanwhile by another call (a token for the wanted service, an open
   * session), a recovered one, or a new purchase of the best offer by the preference (see `rankOffers`). An offer
   * whose invoice does not match its challenge is passed over for the next; if none is valid, the first one's
   * error is thrown.
   */
  async #obtain(
    offers: readonly Offer[],
    origin: string,
    refused: ReadonlySet<string>,
    dryRun: boolean,
    url: string,
    limits: CallLimits,
    options: { excludeSessions?: boolean } = {},
  ): Promise<Obtained> {
    await this.#payer.resolvePending(origin);
    const state = await this.#store.read();
    const l402 = offers.find((offer): offer is L402Offer => offer.kind === "l402");
    if (l402) {
      const cached = tokenFor(state, origin, l402.macaroon.service, this.#now(), refused);
      if (cached) {
        this.#onEvent({ type: "token_reused", origin, service: cached.service });
        return { presented: { kind: "token", token: cached } };
      }
    }
    const session = options.excludeSessions
      ? undefined
      : openSessionFor(state, origin, pathScope(new URL(url).pathname));
    if (session && !refused.has(session.sessionId) && offers.some((offer) => offer.kind === "session")) {
      return { presented: { kind: "session", session } };
    }
    const canOpenSessions = !options.excludeSessions && this.#wallet.createReturnInvoice !== undefined;
    const ranked = rankOffers(offers, this.#preference, canOpenSessions, this.#now());
    let firstError: unknown;
    for (const offer of ranked) {
      try {
        return await this.#buy(offer, origin, dryRun, url, limits);
      } catch (error) {
        if (!(error instanceof L402ClientError) || !VALIDATION_CODES.has(error.code)) throw error;
        firstError ??= error;
      }
    }
    throw (
      firstError ??
      new L402ClientError("malformed_challenge", `${origin} offers no payment this client is configured to make`)
    );
  }

  async #buy(offer: Offer, origin: string, dryRun: boolean, url: string, limits: CallLimits): Promise<Obtained> {
    if (offer.kind === "l402") {
      const validated = validateChallenge(offer, this.#now());
      this.#assertLockBlocks(validated.invoice);
      const quote = this.#payer.quote(validated, origin);
      if (dryRun) await this.#dryRun(quote);
      await this.#approve(quote, limits);
      const token = await this.#payer.pay(validated, origin, limits.maxCostSats);
      limits.onPaid?.(token.paymentHash);
      return { presented: { kind: "token", token }, paid: quote };
    }
    const validated = this.#validateOffer(offer);
    if (offer.kind === "charge") {
      const quote = this.#payer.quoteOffer(validated, origin, "charge");
      if (dryRun) await this.#dryRun(quote);
      await this.#approve(quote, limits);
      const result = await this.#payer.payOffer(validated, origin, "charge", undefined, undefined, limits.maxCostSats);
      limits.onPaid?.(result.paymentHash);
      return {
        presented: {
          kind: "charge",
          challenge: offer.challenge,
          preimage: result.preimage,
          paymentHash: result.paymentHash,
        },
        paid: quote,
      };
    }
    const quote = this.#payer.quoteOffer(validated, origin, "session");
    if (dryRun) await this.#dryRun(quote);
    await this.#approve(quote, limits);
    const returnInvoice = await this.#returnInvoice(offer);
    const sessionId = validated.invoice.paymentHash;
    const pending = {
      returnInvoice,
      challenge: storedChallenge(offer.challenge),
      url,
      unitSats: Number(offer.request.amount),
    };
    await this.#payer.payOffer(validated, origin, "session", undefined, pending, limits.maxCostSats);
    limits.onPaid?.(sessionId);
    const stored = (await this.#store.read()).sessions.find((session) => session.sessionId === sessionId);
    if (!stored) throw new Error("the session was not stored");
    return { presented: { kind: "session", session: stored }, paid: quote };
  }

  #validateOffer(offer: ChargeOffer | SessionOffer): ValidatedPaymentOffer {
    const validated = validatePaymentOffer(offer, this.#now());
    this.#assertLockBlocks(validated.invoice);
    return validated;
  }

  #assertLockBlocks(invoice: DecodedInvoice): void {
    if (invoice.lockBlocks <= this.#maxLockBlocks) return;
    throw new L402ClientError(
      "timelock_too_long",
      `the invoice could keep the payment locked for ${invoice.lockBlocks} blocks, more than the ` +
        `${this.#maxLockBlocks} allowed (maxLockBlocks)`,
      { paymentHash: invoice.paymentHash },
    );
  }

  /** With `limits.approve`: checks the caps and budgets first, then asks; a refusal is `payment_declined`. */
  async #approve(quote: PriceQuote, limits: CallLimits): Promise<void> {
    if (!limits.approve) return;
    await this.#payer.assertAllowed(quote, limits.maxCostSats);
    if (!(await limits.approve(quote))) {
      throw new L402ClientError(
        "payment_declined",
        `paying ${quote.amountSats} sats to ${quote.origin} was not approved`,
        {
          quote,
        },
      );
    }
  }

  /** Throws what paying `quote` would be refused with, else `dry_run` with the quote. */
  async #dryRun(quote: PriceQuote): Promise<never> {
    await this.#payer.assertAllowed(quote);
    throw new L402ClientError(
      "dry_run",
      `dry run: ${quote.origin} asks ${quote.amountSats} sats (+ up to ${quote.maxFeeSats} sats fee) for ` +
        `${describeScheme(quote)}; nothing paid`,
      { quote },
    );
  }

  /** An amountless invoice for the refund, valid at least 30 days and twice the session's idle timeout. */
  async #returnInvoice(offer: SessionOffer): Promise<string> {
    const create = this.#wallet.createReturnInvoice?.bind(this.#wallet);
    if (!create) {
      throw new L402ClientError("session_unsupported", "the wallet cannot make a return invoice for a session");
    }
    const idle = Number(offer.request.idleTimeout ?? "0");
    const expirySeconds = Math.max(RETURN_INVOICE_MIN_SECONDS, 2 * idle);
    return (await create({ description: `refund of session ${offer.request.paymentHash}`, expirySeconds })).invoice;
  }

  /**
   * The session with a challenge fit to echo: one about to expire is replaced by the session challenge of a fresh
   * unpaid 402 from the session's URL (its invoice is left unpaid). Kept as it is when none comes.
   */
  async #refreshed(session: StoredSession, url: string): Promise<StoredSession> {
    if (!challengeNeedsRefresh(session.challenge, this.#now())) return session;
    const response = await sendFollowing(
      await ReplayableRequest.from(url, { method: "GET" }),
      undefined,
      this.#sendOptions(),
    );
    await response.body?.cancel();
    if (response.status !== 402) return session;
    let fresh: SessionOffer | undefined;
    try {
      fresh = readOffers(response.headers).find((offer): offer is SessionOffer => offer.kind === "session");
    } catch {
      return session;
    }
    if (!fresh) return session;
    const challenge = storedChallenge(fresh.challenge);
    return (
      (await this.#store.update((state) =>
        updateSession(state, session.sessionId, (stored) => {
          stored.challenge = challenge;
        }),
      )) ?? session
    );
  }

  /** The refused token is dropped only if the server wants a token for its own service: it is spent or revoked. */
  async #refuse(token: StoredToken, wanted: MacaroonInfo | undefined, refused: Set<string>): Promise<void> {
    refused.add(token.paymentHash);
    if (wanted === undefined || token.service !== wanted.service) return;
    await this.#store.update((state) => removeToken(state, token.paymentHash));
    this.#onEvent({
      type: "token_dropped",
      origin: token.origin,
      service: token.service,
      paymentHash: token.paymentHash,
    });
  }

  /** The origin took `paid` and did not serve it: no new payment goes there during the cool-off. */
  async #recordRefusal(paid: PriceQuote, reason: Refusal["reason"]): Promise<void> {
    const at = this.#now().toISOString();
    const { origin } = paid;
    await this.#store.update((state) => {
      state.refusals = state.refusals.filter((refusal) => refusal.origin !== origin);
      state.refusals.push({
        origin,
        service: paid.service,
        paymentHash: paid.paymentHash,
        at,
        reason,
        paid: paid.scheme ?? "l402",
      });
    });
  }

  /**
   * The origin served: a credential paid in this call (which the caller allowed past a refusal), or the very
   * credential whose payment it had left unserved. Its refusal is forgotten.
   */
  async #forgiveRefusal(origin: string, paymentHash?: string): Promise<void> {
    const matches = (refusal: Refusal) =>
      refusal.origin === origin && (paymentHash === undefined || refusal.paymentHash === paymentHash);
    if (!(await this.#store.read()).refusals.some(matches)) return;
    await this.#store.update((state) => {
      state.refusals = state.refusals.filter((refusal) => !matches(refusal));
    });
  }

  async #remember(origin: string, scope: string, service: string): Promise<void> {
    const state = await this.#store.read();
    const known = state.routes.some(
      (route) => route.origin === origin && route.scope === scope && route.service === service,
    );
    if (!known) await this.#store.update((draft) => rememberRoute(draft, origin, scope, service));
  }
}

/** [] for a 402 of another payment scheme, which goes back to the caller with its body unread. */
function readOffersOrDiscard(response: Response): Offer[] {
  try {
    return readOffers(response.headers);
  } catch (error) {
    response.body?.cancel().catch(() => undefined);
    throw error;
  }
}

/**
 * A 402 reached through a redirect to another origin is not paid: the token would be filed under (and budgeted
 * against) the origin asked, and fetch never sends the credential across origins, so it could never be used.
 */
function assertSameOrigin(response: Response, origin: string): void {
  if (!response.redirected || !URL.canParse(response.url)) return;
  const answeredBy = new URL(response.url).origin;
  if (answeredBy === origin) return;
  throw new L402ClientError(
    "redirected_challenge",
    `${origin} redirected to ${answeredBy}, which asks for payment; not paying an origin that was not asked`,
  );
}

/** "https://api.example/v1" and "https://api.example" name the same origin; a bare origin is kept as given. */
function originOf(text: string): string {
  return URL.canParse(text) ? new URL(text).origin : text;
}

/**
 * An answer lost on the way to a request that was sent: the connection failed or was reset (fetch's TypeError), or
 * no response headers came in time. Refusals the client decided itself (a redirect, an insecure hop) are not.
 */
function isLostAnswer(error: unknown): boolean {
  if (error instanceof L402ClientError) return error.code === "request_timeout";
  return error instanceof TypeError;
}

function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error instanceof L402ClientError) return error.code;
  return error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message;
}

/** How a caller gets what it paid for after the answer was lost. */
function resumeHint(paid: PriceQuote): string {
  switch (paid.scheme) {
    case "charge":
      return "A charge credential serves one call: the server may refuse it when it is sent again; see the receipts.";
    case "session":
    case "topUp":
      return (
        "The session stays stored with what was paid into it: calling again uses it without paying, and closing " +
        "it ('l402 close <origin>', closeSessions) collects the unspent rest."
      );
    default:
      return "The token is kept: calling again (the same l402 command, or fetch) reuses it without paying.";
  }
}

function describeScheme(quote: PriceQuote): string {
  switch (quote.scheme) {
    case "charge":
      return "one call (Payment charge)";
    case "session":
      return "a session deposit (Payment session)";
    case "topUp":
      return "a session top-up (Payment session)";
    default:
      return `${quote.service || "access"} (L402)`;
  }
}

/** Errors of an offer that does not hold together: the next offer may still be paid. */
const VALIDATION_CODES: ReadonlySet<L402ClientErrorCode> = new Set([
  "malformed_challenge",
  "invalid_invoice",
  "zero_amount_invoice",
  "invoice_expired",
  "timelock_too_long",
  "payment_hash_mismatch",
  "amount_mismatch",
  "network_mismatch",
  "session_unsupported",
]);

/** A closed L402 prepaid token and its refund. */
export interface ClosedToken {
  readonly origin: string;
  readonly paymentHash: string;
  readonly service: string;
  readonly refund: Refund;
}

/** The gateway's `POST /l402/close` reply (gateway/src/refunds/close-route.ts). */
const tokenCloseReplySchema = z.object({
  token_id: z.string(),
  refund: z.object({ amount_msat: z.number().int().nonnegative(), status: z.string() }),
});

/** The draft's answer to a top-up, `{"status":"ok", "sessionId": …}`: small JSON naming the session. */
async function isTopUpAcknowledgement(response: Response, sessionId: string): Promise<boolean> {
  const length = Number(response.headers.get("content-length") ?? "NaN");
  if (!(response.headers.get("content-type") ?? "").includes("json") || !(length < 4096)) return false;
  const body: unknown = await response
    .clone()
    .json()
    .catch(() => undefined);
  const parsed = z.object({ status: z.literal("ok"), sessionId: z.literal(sessionId) }).safeParse(body);
  if (parsed.success) await response.body?.cancel();
  return parsed.success;
}

/** A closed session: what was paid into it and what came back. */
export interface ClosedSession {
  readonly origin: string;
  readonly sessionId: string;
  readonly paidSats: number;
  readonly refund: Refund;
}

interface AnnouncedRefund {
  /** null when the server did not say (Aperture omits 0). */
  readonly sats: number | null;
  readonly status: "succeeded" | "failed" | "skipped" | null;
}

/** What the close receipt says of the refund; nothing known without a readable receipt. */
function announcedRefund(headers: Headers): AnnouncedRefund {
  const header = headers.get(PAYMENT_RECEIPT_HEADER);
  if (header === null) return { sats: null, status: null };
  try {
    const receipt = parsePaymentReceipt(header);
    return { sats: receipt.refundSats ?? null, status: receipt.refundStatus ?? null };
  } catch {
    return { sats: null, status: null };
  }
}

function refundStatus(announced: AnnouncedRefund, receivedSats: number | undefined): Refund["status"] {
  if (receivedSats !== undefined && receivedSats > 0) return "succeeded";
  if (announced.sats === 0 || announced.status === "skipped") return "skipped";
  return announced.status === "failed" ? "failed" : "pending";
}

function sessionRefused(session: StoredSession, action: "open" | "close"): L402ClientError {
  return new L402ClientError(
    "payment_refused",
    `${session.origin} refused to ${action} session ${session.sessionId}; it stays recorded as open`,
    { paymentHash: session.sessionId },
  );
}

/** How often closing a session looks at the wallet for the refund. */
const REFUND_POLL_MS = 250;

/** The draft advises a return invoice valid at least 30 days. */
const RETURN_INVOICE_MIN_SECONDS = 30 * 24 * 3600;

export function createL402Client(options: L402ClientOptions): L402Client {
  return new L402Client(options);
}

/** The drop-in fetch of a new L402Client; `.client` gives its receipts, tokens and budget. */
export function createL402Fetch(options: L402ClientOptions): L402Fetch & { readonly client: L402Client } {
  const client = new L402Client(options);
  return Object.assign(client.fetch, { client });
}
