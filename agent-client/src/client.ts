import { formatAuthorization } from "@l402-gateway/l402";
import { z } from "zod";
import { balanceOf, type TokenBalance } from "./balances.js";
import { type BudgetLimits, type Spending, spending } from "./budget.js";
import { readChallenge, type ValidatedChallenge, validateChallenge } from "./challenge.js";
import { L402ClientError, type PriceQuote } from "./errors.js";
import type { L402Event } from "./events.js";
import { fetchGatewayQuote, type GatewayQuote } from "./gateway-quote.js";
import type { MacaroonInfo } from "./macaroon-info.js";
import { Payer } from "./payments.js";
import { queryReceipts, type Receipt, type ReceiptQuery } from "./receipts.js";
import { sendFollowing } from "./redirects.js";
import { ReplayableRequest } from "./request-body.js";
import { KeyedMutex } from "./single-flight.js";
import { MemoryStore } from "./store/memory.js";
import { budgetLimitsSchema, type StoredToken } from "./store/state.js";
import type { ClientStore } from "./store/store.js";
import type { Timeouts } from "./timed-fetch.js";
import { chooseToken, pathScope, rememberRoute, removeToken, tokenFor } from "./tokens.js";
import { fetchTrusting } from "./transport.js";
import type { Wallet } from "./wallet/wallet.js";

/** Limits for one call of `fetchWithin`; they can only narrow what the client allows. */
export interface CallLimits {
  /** Cap on this call's payment, amount plus maximum fee; the client's cap applies when it is lower. */
  readonly maxCostSats?: number;
  /** Asked before paying (after every cap and budget allowed it); false refuses with `payment_declined`. */
  readonly approve?: (quote: PriceQuote) => Promise<boolean>;
  /** Told the payment hash of a payment this call made. */
  readonly onPaid?: (paymentHash: string) => void;
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
   * Spending limits. When none is set (option absent or `{}`), `DEFAULT_BUDGET` applies, so that a new user is
   * protected before configuring anything; to spend more, set the limits you want.
   */
  readonly budget?: BudgetLimits;
  /**
   * Origins that may be paid again although they once refused a token they had just been paid for
   * (`origin_refused_token`). A paid token such an origin then accepts clears its record.
   */
  readonly allowRefusedOrigins?: readonly string[];
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
   * A CA certificate to trust in addition to the public ones, for a gateway with a private CA: a PEM string, or
   * the path of a PEM file. Applies to the default fetch; a custom `fetch` brings its own TLS settings.
   */
  readonly ca?: string;
  readonly onEvent?: (event: L402Event) => void;
  /** Clock, for tests. */
  readonly now?: () => Date;
}

/** The budget when none is configured: at most two payments at the default cap per hour, and 10,000 sats a day. */
export const DEFAULT_BUDGET: BudgetLimits = Object.freeze({ hourlySats: 2_000, dailySats: 10_000 });

const optionsSchema = z.object({
  maxCostSats: z.number().int().positive().default(1000),
  maxFeeSats: z.number().int().nonnegative().default(10),
  budget: budgetLimitsSchema
    .default({})
    .transform((limits) => (Object.values(limits).some((limit) => limit !== undefined) ? limits : DEFAULT_BUDGET)),
  allowRefusedOrigins: z.array(z.string()).default([]),
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
  readonly #dryRun: boolean;
  readonly #allowInsecure: boolean;
  readonly #budget: BudgetLimits;
  readonly #onEvent: (event: L402Event) => void;

  constructor(options: L402ClientOptions) {
    const settings = optionsSchema.parse({
      maxCostSats: options.maxCostSats,
      maxFeeSats: options.maxFeeSats,
      budget: options.budget,
      allowRefusedOrigins: options.allowRefusedOrigins,
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
    this.#baseFetch =
      options.fetch ?? (options.ca === undefined ? (request) => fetch(request) : fetchTrusting(options.ca));
    this.#allowInsecure = settings.allowInsecure;
    this.#dryRun = settings.dryRun;
    this.#timeouts = settings.timeouts;
    this.#maxLockBlocks = settings.maxLockBlocks;
    this.#budget = settings.budget;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#payer = new Payer({
      wallet: options.wallet,
      store: this.#store,
      policy: {
        budget: settings.budget,
        allowRefusedOrigins: new Set(settings.allowRefusedOrigins.map(originOf)),
        maxPendingPayments: settings.maxPendingPayments,
      },
      maxCostSats: settings.maxCostSats,
      maxFeeSats: settings.maxFeeSats,
      paymentTimeoutMs: settings.paymentTimeoutMs,
      now: this.#now,
      onEvent: this.#onEvent,
    });
    this.fetch = (input, init) => this.#fetch(input, init, this.#dryRun);
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
    return this.#fetch(input, init, this.#dryRun, limits);
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
    return Promise.all(held.map((token) => balanceOf(token, authorizationFor(token), this.#sendOptions())));
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

  async budget(): Promise<{ limits: BudgetLimits; spent: Spending }> {
    return { limits: this.#budget, spent: spending(await this.#store.read(), this.#now()) };
  }

  /** Resolves payments left pending by a crash or a timeout through the wallet; returns those still pending. */
  resolvePending(): Promise<Receipt[]> {
    return this.#payer.resolvePending();
  }

  #sendOptions() {
    return { send: this.#baseFetch, timeouts: this.#timeouts, allowInsecure: this.#allowInsecure };
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
    let token = chooseToken(await this.#store.read(), origin, scope, this.#now());
    const refused = new Set<string>();
    let paid = false;
    for (let attempt = 1; ; attempt++) {
      const authorization = token && authorizationFor(token);
      const response = await sendFollowing(request, authorization, this.#sendOptions());
      if (response.status !== 402) {
        if (token) await this.#remember(origin, scope, token.service);
        if (paid) await this.#forgiveRefusal(origin);
        return response;
      }
      // A 402 of any scheme to the token just paid for is a refusal, also one that asks for another kind of payment.
      if (paid && token) await this.#recordRefusal(token);
      const challenge = readChallengeOrDiscard(response);
      if (!challenge) return response;
      await response.body?.cancel();
      assertSameOrigin(response, origin);
      this.#onEvent({ type: "challenge", origin, service: challenge.macaroon.service, url: request.url.href });
      if (token) await this.#refuse(token, challenge.macaroon, refused);
      if (paid || attempt >= MAX_ATTEMPTS) {
        throw new L402ClientError(
          "payment_refused",
          `${origin} answered 402 again after ${paid ? "being paid" : `${attempt} attempts`}; not paying again`,
        );
      }
      const next = await this.#mutex.run(origin, () => this.#obtainToken(challenge, origin, refused, dryRun, limits));
      token = next.token;
      paid = next.paid;
    }
  }

  /** Under the origin's lock: a token bought meanwhile by another call, a recovered one, or a new purchase. */
  async #obtainToken(
    read: { challenge: ValidatedChallenge["challenge"]; macaroon: MacaroonInfo },
    origin: string,
    refused: ReadonlySet<string>,
    dryRun: boolean,
    limits: CallLimits,
  ): Promise<{ token: StoredToken; paid: boolean }> {
    const { service } = read.macaroon;
    await this.#payer.resolvePending(origin);
    const state = await this.#store.read();
    const cached = tokenFor(state, origin, service, this.#now(), refused);
    if (cached) {
      this.#onEvent({ type: "token_reused", origin, service });
      return { token: cached, paid: false };
    }
    const validated = validateChallenge(read, this.#now());
    if (validated.invoice.lockBlocks > this.#maxLockBlocks) {
      throw new L402ClientError(
        "timelock_too_long",
        `the invoice could keep the payment locked for ${validated.invoice.lockBlocks} blocks, more than the ` +
          `${this.#maxLockBlocks} allowed (maxLockBlocks)`,
        { paymentHash: validated.invoice.paymentHash },
      );
    }
    if (dryRun) {
      const quote = this.#payer.quote(validated, origin);
      await this.#payer.assertAllowed(quote);
      throw new L402ClientError(
        "dry_run",
        `dry run: ${origin} asks ${quote.amountSats} sats (+ up to ${quote.maxFeeSats} sats fee) for ` +
          `${service || "access"}; nothing paid`,
        { quote },
      );
    }
    if (limits.approve) {
      const quote = this.#payer.quote(validated, origin);
      await this.#payer.assertAllowed(quote, limits.maxCostSats);
      if (!(await limits.approve(quote))) {
        throw new L402ClientError("payment_declined", `paying ${quote.amountSats} sats to ${origin} was not approved`, {
          quote,
        });
      }
    }
    const token = await this.#payer.pay(validated, origin, limits.maxCostSats);
    limits.onPaid?.(token.paymentHash);
    return { token, paid: true };
  }

  /** The refused token is dropped only if the server wants a token for its own service: it is spent or revoked. */
  async #refuse(token: StoredToken, wanted: MacaroonInfo, refused: Set<string>): Promise<void> {
    refused.add(token.paymentHash);
    if (token.service !== wanted.service) return;
    await this.#store.update((state) => removeToken(state, token.paymentHash));
    this.#onEvent({
      type: "token_dropped",
      origin: token.origin,
      service: token.service,
      paymentHash: token.paymentHash,
    });
  }

  /** The origin refused the token it was paid for in this call: it is not paid again unless the caller allows it. */
  async #recordRefusal(token: StoredToken): Promise<void> {
    const at = this.#now().toISOString();
    await this.#store.update((state) => {
      state.refusals = state.refusals.filter((refusal) => refusal.origin !== token.origin);
      state.refusals.push({ origin: token.origin, service: token.service, paymentHash: token.paymentHash, at });
    });
  }

  /** A paid token was accepted: an earlier refusal by this origin (which the caller allowed past) is forgotten. */
  async #forgiveRefusal(origin: string): Promise<void> {
    if (!(await this.#store.read()).refusals.some((refusal) => refusal.origin === origin)) return;
    await this.#store.update((state) => {
      state.refusals = state.refusals.filter((refusal) => refusal.origin !== origin);
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

/** Undefined for a 402 of another payment scheme, which goes back to the caller with its body unread. */
function readChallengeOrDiscard(response: Response): ReturnType<typeof readChallenge> {
  try {
    return readChallenge(response.headers);
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

function authorizationFor(token: StoredToken): string {
  return formatAuthorization({
    macaroon: token.macaroon,
    preimage: Buffer.from(token.preimage, "hex"),
    scheme: token.scheme,
  });
}

export function createL402Client(options: L402ClientOptions): L402Client {
  return new L402Client(options);
}

/** The drop-in fetch of a new L402Client; `.client` gives its receipts, tokens and budget. */
export function createL402Fetch(options: L402ClientOptions): L402Fetch & { readonly client: L402Client } {
  const client = new L402Client(options);
  return Object.assign(client.fetch, { client });
}
