import { CLOSE_PATH, closeReplySchema } from "@l402-gateway/l402";
import { L402ClientError } from "../errors.js";
import { authorizationOf } from "../presented.js";
import { RETURN_INVOICE_MIN_SECONDS } from "../purchase/session.js";
import { type SendOptions, sendFollowing } from "../redirects.js";
import { refreshedSession } from "../refresh-session.js";
import { ReplayableRequest } from "../request-body.js";
import { updateSession } from "../sessions.js";
import type { KeyedMutex } from "../single-flight.js";
import type { Refund, StoredSession, StoredToken } from "../store/state.js";
import type { ClientStore } from "../store/store.js";
import { removeToken } from "../tokens.js";
import type { Wallet } from "../wallet/wallet.js";
import { announcedInReceipt, type RefundCollector } from "./refunds.js";

/** A closed L402 prepaid token and its refund. */
export interface ClosedToken {
  readonly origin: string;
  readonly paymentHash: string;
  readonly service: string;
  readonly refund: Refund;
}

/** A closed session: what was paid into it and what came back. */
export interface ClosedSession {
  readonly origin: string;
  readonly sessionId: string;
  readonly paidSats: number;
  readonly refund: Refund;
}

export interface AccountCloserOptions {
  readonly store: ClientStore;
  readonly wallet: Wallet;
  readonly now: () => Date;
  readonly mutex: KeyedMutex;
  readonly send: SendOptions;
  readonly refunds: RefundCollector;
}

/** Closes accounts that hold money at a server (Payment sessions, L402 prepaid tokens) and collects their refunds. */
export class AccountCloser {
  constructor(private readonly options: AccountCloserOptions) {}

  /** See `L402Client.closeSessions`. */
  async closeSessions(filter: { origin?: string } = {}): Promise<ClosedSession[]> {
    const open = (await this.options.store.read()).sessions.filter(
      (session) => session.status === "open" && (filter.origin === undefined || session.origin === filter.origin),
    );
    const closed: ClosedSession[] = [];
    for (const session of open) {
      closed.push(await this.options.mutex.run(session.origin, () => this.#closeSession(session)));
    }
    return closed;
  }

  /** See `L402Client.closeTokens`. */
  async closeTokens(filter: { origin?: string } = {}): Promise<ClosedToken[]> {
    const tokens = (await this.options.store.read()).tokens.filter(
      (token) => filter.origin === undefined || token.origin === filter.origin,
    );
    const closed: ClosedToken[] = [];
    for (const token of tokens) {
      const result = await this.options.mutex.run(token.origin, () => this.#closeToken(token));
      if (result) closed.push(result);
    }
    return closed;
  }

  async #closeToken(token: StoredToken): Promise<ClosedToken | undefined> {
    const { wallet } = this.options;
    const create = wallet.createReturnInvoice?.bind(wallet);
    if (!create) throw new L402ClientError("session_unsupported", "the wallet cannot make a return invoice");
    const { invoice } = await create({
      description: `refund of token ${token.paymentHash}`,
      expirySeconds: RETURN_INVOICE_MIN_SECONDS,
    });
    const request = await ReplayableRequest.from(new URL(CLOSE_PATH, token.origin), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ invoice }),
    });
    const response = await sendFollowing(request, authorizationOf({ kind: "token", token }), this.options.send);
    const reply = closeReplySchema.safeParse(await response.json().catch(() => undefined));
    if (!response.ok || !reply.success) return undefined;
    const refund = await this.options.refunds.collect({
      origin: token.origin,
      reference: token.paymentHash,
      returnInvoice: invoice,
      announced: {
        sats: BigInt(Math.floor(reply.data.refund.amount_msat / 1000)),
        status: reply.data.refund.status === "succeeded" ? "succeeded" : null,
      },
      afterRecord: (state) => {
        removeToken(state, token.paymentHash);
      },
    });
    return { origin: token.origin, paymentHash: token.paymentHash, service: token.service, refund };
  }

  async #closeSession(stored: StoredSession): Promise<ClosedSession> {
    const { store, now, send } = this.options;
    let session = await refreshedSession({ session: stored, url: stored.url, store, now, send });
    if (!session.opened) {
      // The deposit is paid but the server has not seen the session: open it, else it cannot be closed.
      const opening = await this.#send(session.url, authorizationOf({ kind: "session", session }));
      await opening.body?.cancel();
      if (opening.status === 402) throw sessionRefused(session, "open");
      session = (await store.update((state) =>
        updateSession(state, session.sessionId, (draft) => {
          draft.opened = true;
        }),
      )) ?? { ...session, opened: true };
    }
    const response = await this.#send(session.url, authorizationOf({ kind: "close", session }));
    await response.body?.cancel();
    if (response.status === 402) throw sessionRefused(session, "close");
    await store.update((state) =>
      updateSession(state, session.sessionId, (draft) => {
        draft.status = "closed";
      }),
    );
    const refund = await this.options.refunds.collect({
      origin: session.origin,
      reference: session.sessionId,
      returnInvoice: session.returnInvoice,
      announced: announcedInReceipt(response.headers),
    });
    return { origin: session.origin, sessionId: session.sessionId, paidSats: session.paidSats, refund };
  }

  async #send(url: string, authorization: string): Promise<Response> {
    return sendFollowing(await ReplayableRequest.from(url, { method: "GET" }), authorization, this.options.send);
  }
}

function sessionRefused(session: StoredSession, action: "open" | "close"): L402ClientError {
  return new L402ClientError(
    "payment_refused",
    `${session.origin} refused to ${action} session ${session.sessionId}; it stays recorded as open`,
    { paymentHash: session.sessionId },
  );
}
