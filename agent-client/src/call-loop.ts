import { z } from "zod";
import type { CallLimits } from "./call-limits.js";
import { DEPOSIT_HEADER, type MeteredPrice, meteredPriceOf } from "./deposit.js";
import { L402ClientError, type PriceQuote } from "./errors.js";
import type { L402Event } from "./events.js";
import type { MacaroonInfo } from "./macaroon-info.js";
import { type Offer, readOffers } from "./offers.js";
import { CLEAR_REFUSAL_HINT, describeDuration } from "./pay-policy.js";
import { authorizationOf, type Presented, paymentHashOf } from "./presented.js";
import type { Purchaser } from "./purchase/purchaser.js";
import { describeScheme } from "./quote-text.js";
import { type SendOptions, sendFollowing } from "./redirects.js";
import { refreshedSession } from "./refresh-session.js";
import { ReplayableRequest } from "./request-body.js";
import { credentialSecrets } from "./scrub.js";
import { openSessionFor, storedChallenge, updateSession } from "./sessions.js";
import type { KeyedMutex } from "./single-flight.js";
import type { Refusal, StoredToken } from "./store/state.js";
import type { ClientStore } from "./store/store.js";
import { readingStreamReceipts } from "./stream-receipts.js";
import { chooseToken, pathScope, rememberRoute, removeToken } from "./tokens.js";

/**
 * Requests per call at most: the first try, cached tokens for the wanted service, and one paid retry. Each 402
 * either drops a token from the candidates or pays, and only one payment is allowed per call, so it ends anyway.
 * Asking again with a deposit (and without it, if the gateway's bounds refuse it) happens once per call, before
 * these attempts are counted.
 */
const MAX_ATTEMPTS = 4;

export interface CallLoopOptions {
  readonly store: ClientStore;
  readonly now: () => Date;
  readonly onEvent: (event: L402Event) => void;
  readonly mutex: KeyedMutex;
  readonly send: SendOptions;
  readonly purchaser: Purchaser;
  /** How long an origin that took a payment and did not serve it gets no new payment. */
  readonly refusalCoolOffMs: number;
  /** How many more times a paid request is sent with the paid credential when its answer is lost. */
  readonly paidRetries: number;
}

/** One call as the caller made it, and what it allows. */
export interface Call {
  readonly input: string | URL | Request;
  readonly init: RequestInit | undefined;
  readonly dryRun: boolean;
  readonly limits: CallLimits;
}

/**
 * One call from first request to answer: presents the credential held for the route, meets each 402 with the
 * purchaser (at most one payment per call), retries a paid request whose answer was lost, and records an origin
 * that took a payment and did not serve it (no payment loops).
 */
export class CallLoop {
  constructor(private readonly options: CallLoopOptions) {}

  async run({ input, init, dryRun, limits }: Call): Promise<Response> {
    const { mutex, onEvent, purchaser } = this.options;
    const request = await ReplayableRequest.from(input, init);
    const { origin, pathname } = request.url;
    const scope = pathScope(pathname);
    // A payment for this origin in progress will likely buy the token this call needs: wait for it first.
    await mutex.idle(origin);
    let presented = await this.#firstCredential(origin, scope, request.url.href);
    /** The request as sent: with the deposit header once this call asked for a deposit. */
    let sent = request;
    let depositAsked = request.hasHeader(DEPOSIT_HEADER);
    const refused = new Set<string>();
    /** The payment this call made: every request after it presents the credential it bought. */
    let paid: PriceQuote | undefined;
    for (let attempt = 1; ; attempt++) {
      const authorization = presented && authorizationOf(presented);
      if (presented) limits.onCredential?.(credentialSecrets(presented));
      const response = paid
        ? await this.#sendPaid(sent, authorization, paid)
        : await sendFollowing(sent, authorization, this.options.send);
      if (sent !== request && !paid && (await isDepositRefusal(response))) {
        // The operator's bounds refuse the deposit asked for: ask again for what the gateway asks by itself.
        onEvent({ type: "deposit_refused", origin, depositMsat: Number(sent.header(DEPOSIT_HEADER)) });
        sent = request;
        continue;
      }
      if (response.status !== 402) {
        if (presented) await this.#accepted(presented, origin, scope);
        // A top-up answered by the draft's acknowledgement (our gateway) served nothing: ask again as bearer. The
        // call stays a paid one: a 402 to that bearer request is a refusal of the top-up just paid.
        // Aperture instead forwards the top-up request itself, and its answer is the caller's.
        if (presented?.kind === "topUp" && (await isTopUpAcknowledgement(response, presented.session.sessionId))) {
          const { sessionId } = presented.session;
          const session = (await this.options.store.read()).sessions.find((stored) => stored.sessionId === sessionId);
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
        if (presented?.kind !== "session" && presented?.kind !== "topUp") return response;
        return readingStreamReceipts(response, (receipt) =>
          onEvent({
            type: "stream_receipt",
            origin,
            sessionId: receipt.reference,
            spentSats: receipt.spent,
            units: receipt.units,
          }),
        );
      }
      // A 402 of any scheme to the credential just paid for is a refusal, also one that asks for another payment.
      if (paid) await this.#recordRefusal(paid, "refused");
      const offers = readOffersOrDiscard(response);
      if (offers.length === 0) return response;
      const metered = meteredPriceOf(await readChallengeBody(response), offers);
      assertSameOrigin(response, origin);
      if (!paid && !depositAsked && metered) {
        depositAsked = true;
        const depositMsat = await purchaser.depositToAsk(metered, origin, limits);
        if (depositMsat !== undefined) {
          onEvent({ type: "deposit", origin, depositMsat, priceMsat: metered.priceMsat, topUp: metered.topUp });
          sent = request.withHeader(DEPOSIT_HEADER, String(depositMsat));
          continue;
        }
      }
      const l402 = offers.find((offer) => offer.kind === "l402");
      onEvent({ type: "challenge", origin, service: l402?.macaroon.service ?? "", url: request.url.href });
      if (presented?.kind === "token") await this.#refuse(presented.token, l402?.macaroon, refused, metered);
      // An `open` refused may be a concurrent call's open winning: the session is still tried as bearer once opened.
      else if (presented && !(presented.kind === "session" && !presented.session.opened)) {
        refused.add(paymentHashOf(presented));
      }
      if (paid) {
        throw new L402ClientError(
          "payment_refused",
          `${origin} answered 402 again after being paid ${paid.amountSats} sats (${describeScheme(paid)}, hash ` +
            `${paid.paymentHash}); not paying it again until ${this.#coolOffEnd()} (cool-off ` +
            `${describeDuration(this.options.refusalCoolOffMs)}); ${CLEAR_REFUSAL_HINT}`,
          { quote: paid, paymentHash: paid.paymentHash },
        );
      }
      if (attempt >= MAX_ATTEMPTS) {
        throw new L402ClientError("payment_refused", `${origin} answered 402 again after ${attempt} attempts`);
      }
      const held = presented?.kind === "session" ? presented.session : undefined;
      const purchase = { offers, origin, refused, dryRun, limits };
      const next = await mutex.run(origin, () =>
        held?.opened
          ? purchaser.topUpOrObtain({ ...purchase, session: held })
          : purchaser.obtain({ ...purchase, url: request.url.href }),
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
    const { paidRetries, refusalCoolOffMs } = this.options;
    let lost: unknown;
    for (let attempt = 0; attempt <= paidRetries; attempt++) {
      try {
        return await sendFollowing(request, authorization, this.options.send);
      } catch (error) {
        if (!isLostAnswer(error) || request.signal.aborted) throw error;
        lost = error;
        if (attempt === paidRetries) break;
        this.options.onEvent({
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
        `not answer the paid request (${describeFailure(lost)}; ${paidRetries + 1} tries with the paid ` +
        `credential). ${resumeHint(paid)} No new payment goes to ${paid.origin} until ${this.#coolOffEnd()} ` +
        `(cool-off ${describeDuration(refusalCoolOffMs)}); ${CLEAR_REFUSAL_HINT}.`,
      { quote: paid, paymentHash: paid.paymentHash },
      { cause: lost },
    );
  }

  #coolOffEnd(): string {
    return new Date(this.options.now().getTime() + this.options.refusalCoolOffMs).toISOString();
  }

  /** The credential to try first: an open session of the origin, else the token the route hints name. */
  async #firstCredential(origin: string, scope: string, url: string): Promise<Presented | undefined> {
    const { store, now, send } = this.options;
    const state = await store.read();
    const session = openSessionFor(state, origin, scope);
    if (session) return { kind: "session", session: await refreshedSession({ session, url, store, now, send }) };
    const token = chooseToken(state, origin, scope, now());
    return token && { kind: "token", token };
  }

  /** After a non-402 answer: the route is remembered, a session marked opened, a top-up's challenge kept. */
  async #accepted(presented: Presented, origin: string, scope: string): Promise<void> {
    const { store } = this.options;
    const now = this.options.now().toISOString();
    switch (presented.kind) {
      case "token":
        await this.#remember(origin, scope, presented.token.service);
        return;
      case "session":
        await store.update((state) =>
          updateSession(state, presented.session.sessionId, (session) => {
            session.opened = true;
            session.lastUsedAt = now;
          }),
        );
        return;
      case "topUp":
        // The top-up challenge is the freshest one the server bound: later bearer requests echo it.
        await store.update((state) =>
          updateSession(state, presented.session.sessionId, (session) => {
            session.challenge = storedChallenge(presented.challenge);
            session.lastUsedAt = now;
          }),
        );
        return;
      case "charge":
      case "close":
        return;
    }
  }

  /**
   * The refused token is dropped only if the server wants a token for its own service: it is spent or revoked, or
   * its balance ran out (`metered.topUp`: the 402's token tops up the same balance and replaces it once paid).
   */
  async #refuse(
    token: StoredToken,
    wanted: MacaroonInfo | undefined,
    refused: Set<string>,
    metered: MeteredPrice | undefined,
  ): Promise<void> {
    refused.add(token.paymentHash);
    if (wanted === undefined || token.service !== wanted.service) return;
    await this.options.store.update((state) => removeToken(state, token.paymentHash));
    const { origin, service, paymentHash } = token;
    this.options.onEvent(
      metered?.topUp
        ? {
            type: "top_up",
            origin,
            service,
            credential: "token",
            priceMsat: metered.priceMsat,
            ...(metered.balanceMsat === undefined ? {} : { balanceMsat: metered.balanceMsat }),
          }
        : { type: "token_dropped", origin, service, paymentHash },
    );
  }

  /** The origin took `paid` and did not serve it: no new payment goes there during the cool-off. */
  async #recordRefusal(paid: PriceQuote, reason: Refusal["reason"]): Promise<void> {
    const at = this.options.now().toISOString();
    const { origin } = paid;
    await this.options.store.update((state) => {
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
    const { store } = this.options;
    const matches = (refusal: Refusal) =>
      refusal.origin === origin && (paymentHash === undefined || refusal.paymentHash === paymentHash);
    if (!(await store.read()).refusals.some(matches)) return;
    await store.update((state) => {
      state.refusals = state.refusals.filter((refusal) => !matches(refusal));
    });
  }

  async #remember(origin: string, scope: string, service: string): Promise<void> {
    const { store } = this.options;
    const state = await store.read();
    const known = state.routes.some(
      (route) => route.origin === origin && route.scope === scope && route.service === service,
    );
    if (!known) await store.update((draft) => rememberRoute(draft, origin, scope, service));
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

/** The JSON body of a 402 (this project's gateway describes its price there), else undefined; the body is used up. */
async function readChallengeBody(response: Response): Promise<unknown> {
  const length = Number(response.headers.get("content-length") ?? "NaN");
  if (!(response.headers.get("content-type") ?? "").includes("json") || !(length <= MAX_CHALLENGE_BODY_BYTES)) {
    await response.body?.cancel();
    return undefined;
  }
  return response.json().catch(() => undefined);
}

const MAX_CHALLENGE_BODY_BYTES = 64 * 1024;

/** The gateway's 400 `invalid_deposit`: the deposit asked for is outside the operator's bounds. */
async function isDepositRefusal(response: Response): Promise<boolean> {
  if (response.status !== 400) return false;
  const body = await readChallengeBody(response.clone());
  const refused = z.object({ code: z.literal("invalid_deposit") }).safeParse(body).success;
  if (refused) await response.body?.cancel();
  return refused;
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
