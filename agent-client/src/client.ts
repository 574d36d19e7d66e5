import { z } from "zod";
import { AccountCloser, type ClosedSession, type ClosedToken } from "./accounts/closer.js";
import { RefundCollector } from "./accounts/refunds.js";
import { balanceOf, type TokenBalance } from "./balances.js";
import { type BudgetLimits, composeBudget, type Spending, spending } from "./budget.js";
import type { CallLimits } from "./call-limits.js";
import { CallLoop } from "./call-loop.js";
import { DEFAULT_DEPOSIT, DEPOSIT_HEADER, type DepositPolicy, depositPolicySchema } from "./deposit.js";
import { L402ClientError, type PriceQuote } from "./errors.js";
import type { L402Event } from "./events.js";
import { fetchGatewayQuote, type GatewayQuote } from "./gateway-quote.js";
import type { Resolver } from "./loopback.js";
import type { OfferPreference } from "./offer-choice.js";
import { coolOffEnd } from "./pay-policy.js";
import { Payer } from "./payments.js";
import { authorizationOf } from "./presented.js";
import { Purchaser } from "./purchase/purchaser.js";
import { queryReceipts, type Receipt, type ReceiptQuery } from "./receipts.js";
import type { SendOptions } from "./redirects.js";
import { ReplayableRequest } from "./request-body.js";
import { KeyedMutex } from "./single-flight.js";
import { MemoryStore } from "./store/memory.js";
import { budgetLimitsSchema, type Refund, type Refusal, type StoredSession, type StoredToken } from "./store/state.js";
import type { ClientStore } from "./store/store.js";
import type { Timeouts } from "./timed-fetch.js";
import { removeToken } from "./tokens.js";
import { fetchThrough, OriginGuard } from "./transport.js";
import type { Wallet } from "./wallet/wallet.js";

export type { ClosedSession, ClosedToken } from "./accounts/closer.js";
export type { CallLimits } from "./call-limits.js";

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
   * How a metered credential (an L402 prepaid token, a Payment session) is funded when it is bought or topped up:
   * `{ calls: n }` asks the gateway (header X-L402-Deposit-Msat, after its 402 quoted the price) for n calls at
   * the quoted price, `{ sats: n }` for n sats, `false` for what it asks by itself (one call). Always within the cap
   * per payment and the budgets left, and never less than the gateway asks; a request that sets the header itself
   * is sent as it is. The deposit counts against the budgets like any payment until its refund (`close`) arrives.
   * Default `DEFAULT_DEPOSIT` (five calls).
   */
  readonly deposit?: DepositPolicy;
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
export { DEFAULT_DEPOSIT, type DepositPolicy } from "./deposit.js";

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
 * The client: a facade over the call loop (fetch, with payments), the purchaser (one strategy per payment scheme),
 * the Payer (caps, budgets, pending payments) and the account closer (refunds); it answers queries on the store.
 */
export class L402Client {
  /** Use as `fetch`: pays 402 challenges within the caps and budgets, and reuses tokens. */
  readonly fetch: L402Fetch;
  readonly #store: ClientStore;
  readonly #payer: Payer;
  readonly #purchaser: Purchaser;
  readonly #calls: CallLoop;
  readonly #closer: AccountCloser;
  readonly #refunds: RefundCollector;
  readonly #send: SendOptions;
  readonly #settings: z.infer<typeof optionsSchema>;
  readonly #now: () => Date;
  readonly #closeSessionsOnClose: boolean;

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
    const store = options.store ?? new MemoryStore();
    const now = options.now ?? (() => new Date());
    const onEvent = options.onEvent ?? (() => {});
    const { wallet } = options;
    const guard = new OriginGuard(settings.allowInsecure, options.resolve);
    const send: SendOptions = {
      send: options.fetch ?? fetchThrough(guard, options.ca),
      timeouts: settings.timeouts,
      allowInsecure: settings.allowInsecure,
      guard,
    };
    const mutex = new KeyedMutex();
    const payer = new Payer({
      wallet,
      store,
      policy: {
        budget: settings.budget,
        allowRefusedOrigins: new Set(settings.allowRefusedOrigins.map(originOf)),
        refusalCoolOffMs: settings.refusalCoolOffMs,
        maxPendingPayments: settings.maxPendingPayments,
      },
      maxCostSats: settings.maxCostSats,
      maxFeeSats: settings.maxFeeSats,
      paymentTimeoutMs: settings.paymentTimeoutMs,
      now,
      onEvent,
    });
    const purchaser = new Purchaser({
      payer,
      store,
      wallet,
      now,
      onEvent,
      preference: options.preference ?? {},
      deposit: depositPolicySchema.parse(options.deposit ?? DEFAULT_DEPOSIT),
      maxLockBlocks: settings.maxLockBlocks,
    });
    const refunds = new RefundCollector({ store, wallet, now, onEvent, refundWaitMs: options.refundWaitMs ?? 30_000 });
    this.#store = store;
    this.#now = now;
    this.#send = send;
    this.#settings = settings;
    this.#payer = payer;
    this.#purchaser = purchaser;
    this.#refunds = refunds;
    this.#closeSessionsOnClose = options.closeSessionsOnClose ?? false;
    this.#calls = new CallLoop({
      store,
      now,
      onEvent,
      mutex,
      send,
      purchaser,
      refusalCoolOffMs: settings.refusalCoolOffMs,
      paidRetries: settings.paidRetries,
    });
    this.#closer = new AccountCloser({ store, wallet, now, mutex, send, refunds });
    this.fetch = (input, init) => this.#calls.run({ input, init, dryRun: settings.dryRun, limits: {} });
  }

  /** The cap per payment (amount plus maximum fee) this client was made with; a call can only lower it. */
  get maxCostSats(): number {
    return this.#settings.maxCostSats;
  }

  /** Like fetch in dry-run mode: the response when no payment is needed, else the price that would be paid. */
  async preview(input: string | URL | Request, init?: RequestInit): Promise<Response | PriceQuote> {
    try {
      return await this.#calls.run({ input, init, dryRun: true, limits: {} });
    } catch (error) {
      if (error instanceof L402ClientError && error.code === "dry_run" && error.quote) return error.quote;
      throw error;
    }
  }

  /**
   * What the gateway says this request would cost, asked before anything is paid or any invoice exists (its
   * `/l402/quote` endpoint), and whether this client would pay that now: `refusal` is the `over_cap` or
   * `budget_exceeded` error paying it would meet (a new credential's invoice plus the maximum fee), else null.
   * `depositSats`: for a metered request, what this client would pay for a new credential by its deposit policy
   * (never more than the cap and budgets allow, so it changes no refusal); null when it pays `invoiceSats`.
   * Throws `quote_failed` when the origin has no quote endpoint or cannot price the request.
   */
  async quote(
    input: string | URL | Request,
    init?: RequestInit,
    options: { maxCostSats?: number } = {},
  ): Promise<
    GatewayQuote & {
      readonly maxFeeSats: number;
      readonly depositSats: number | null;
      readonly refusal: L402ClientError | null;
    }
  > {
    const request = await ReplayableRequest.from(input, init);
    const quote = await fetchGatewayQuote(request, this.#send);
    const depositMsat =
      quote.kind === "metered" && quote.reserveMsat !== null && !request.hasHeader(DEPOSIT_HEADER)
        ? await this.#purchaser.depositToAsk(
            { priceMsat: quote.reserveMsat, offeredMsat: quote.invoiceSats * 1000, topUp: false },
            quote.origin,
            options.maxCostSats === undefined ? {} : { maxCostSats: options.maxCostSats },
          )
        : undefined;
    let refusal: L402ClientError | null = null;
    try {
      if (quote.invoiceSats > 0)
        await this.#payer.assertAffordable(quote.origin, quote.invoiceSats, options.maxCostSats);
    } catch (error) {
      if (!(error instanceof L402ClientError)) throw error;
      refusal = error;
    }
    const depositSats = depositMsat === undefined ? null : depositMsat / 1000;
    return { ...quote, maxFeeSats: this.#payer.maxFeeSats, depositSats, refusal };
  }

  /**
   * Like `fetch`, with limits for this call only: a lower cap (`maxCostSats`, amount plus maximum fee: a payment
   * above it is refused with `over_cap`), and `approve`, asked before a payment that every cap and budget allows
   * (false: refused with `payment_declined`). The client's own cap and budgets still apply; nothing here can raise
   * them. `onPaid` learns the payment hash of a payment this call made.
   */
  fetchWithin(input: string | URL | Request, init: RequestInit | undefined, limits: CallLimits): Promise<Response> {
    return this.#calls.run({ input, init, dryRun: this.#settings.dryRun, limits });
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
    return Promise.all(held.map((token) => balanceOf(token, authorizationOf({ kind: "token", token }), this.#send)));
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
      const until = coolOffEnd(refusal, this.#settings.refusalCoolOffMs);
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
    return { limits: this.#settings.budget, spent: spending(await this.#store.read(), this.#now()) };
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
  closeSessions(filter: { origin?: string } = {}): Promise<ClosedSession[]> {
    return this.#closer.closeSessions(filter);
  }

  /**
   * Closes the L402 prepaid tokens (of one origin, or all) at servers that offer it (`POST /l402/close`, this
   * project's gateway): the unspent balance is paid back to a new return invoice of the wallet and recorded on the
   * token's receipt, and the token is forgotten. A server without the endpoint (any answer that is not its JSON
   * reply) keeps its token untouched and is left out of the result.
   */
  closeTokens(filter: { origin?: string } = {}): Promise<ClosedToken[]> {
    return this.#closer.closeTokens(filter);
  }

  /** Looks again at refunds recorded as pending: the wallet may have received them since. */
  resolveRefunds(): Promise<Refund[]> {
    return this.#refunds.resolve();
  }

  /**
   * Ends the client: with `closeSessionsOnClose`, closes every open Payment session and every L402 prepaid token
   * whose server offers a close, collecting the refunds, before returning.
   */
  async close(): Promise<{ sessions: ClosedSession[]; tokens: ClosedToken[] }> {
    if (!this.#closeSessionsOnClose) return { sessions: [], tokens: [] };
    return { sessions: await this.closeSessions(), tokens: await this.closeTokens() };
  }

  /** Resolves payments left pending by a crash or a timeout through the wallet; returns those still pending. */
  resolvePending(): Promise<Receipt[]> {
    return this.#payer.resolvePending();
  }
}

/** "https://api.example/v1" and "https://api.example" name the same origin; a bare origin is kept as given. */
function originOf(text: string): string {
  return URL.canParse(text) ? new URL(text).origin : text;
}

export function createL402Client(options: L402ClientOptions): L402Client {
  return new L402Client(options);
}

/** The drop-in fetch of a new L402Client; `.client` gives its receipts, tokens and budget. */
export function createL402Fetch(options: L402ClientOptions): L402Fetch & { readonly client: L402Client } {
  const client = new L402Client(options);
  return Object.assign(client.fetch, { client });
}
