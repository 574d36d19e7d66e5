import {
  decodePaymentRequest,
  formatPaymentReceipt,
  isBoundChallenge,
  LIGHTNING_METHOD,
  type LightningSessionPayload,
  type LightningSessionRequest,
  lightningChargePayloadSchema,
  lightningChargeRequestSchema,
  lightningSessionPayloadSchema,
  lightningSessionRequestSchema,
  mintToken,
  type PaymentCredential,
  PaymentError,
  type PaymentProblemType,
  type PaymentReceipt,
  parseExpires,
  parsePaymentAuthorization,
  parsePaymentPayload,
  preimageHexProves,
} from "@l402-gateway/l402";
import type { GatewayConfig, ServiceConfig } from "../config/schema.js";
import type { InvoiceBackend } from "../lightning/invoices.js";
import type { GatewayMetrics } from "../metrics/metrics.js";
import { networkOfInvoice, RefundInvoiceError } from "../refunds/invoice.js";
import type { Refunds } from "../refunds/refunds.js";
import { closeRefused } from "../refusals/answers.js";
import type { PaymentClaims } from "../store/ledger.js";
import type { Accounts, TokenRecord } from "../store/store.js";
import type { Authenticated } from "../tokens/authenticator.js";
import { tokenCaveats } from "../tokens/caveats.js";
import { PaymentOffers } from "./offers.js";
import { serviceSecret } from "./service-secret.js";

/** Why a Payment credential was refused: answered with a fresh 402 (all offers) or, for 400 types, as is. */
export interface PaymentRefusal {
  readonly type: PaymentProblemType;
  readonly detail: string;
  readonly challengeId?: string;
}

/** A reply the gateway gives itself (session top-up and close): not forwarded. */
export interface PaymentReply {
  readonly status: number;
  readonly body: Readonly<Record<string, unknown>>;
  readonly receipt?: string;
}

export type PaymentOutcome =
  | { readonly kind: "refused"; readonly refusal: PaymentRefusal }
  /** A charge claimed: forward the call, with the receipt on a 2xx. */
  | { readonly kind: "charge"; readonly receipt: string }
  /** A session (opened by this request, or presented as a bearer): forward metered on its account. */
  | { readonly kind: "session"; readonly auth: Authenticated; readonly receipt: string }
  | { readonly kind: "reply"; readonly reply: PaymentReply };

export interface PaymentGateDeps {
  readonly store: PaymentClaims & Accounts;
  readonly backend: InvoiceBackend;
  readonly refunds: Refunds;
  readonly metrics: GatewayMetrics;
  readonly config: GatewayConfig;
  readonly secret: () => Promise<Buffer>;
}

class Refused extends Error {
  constructor(readonly refusal: PaymentRefusal) {
    super(refusal.detail);
  }
}

const refused = (type: PaymentProblemType, detail: string, challengeId?: string): never => {
  throw new Refused({ type, detail, ...(challengeId === undefined ? {} : { challengeId }) });
};

/**
 * Verifies `Authorization: Payment` credentials (method lightning) for a service, in Aperture's order: parse, method
 * and intent, the HMAC binding of the echoed challenge (and the service it names), expiry, the preimage, the invoice
 * settled on LND, then the single-use claim in the store. A session is a metered token of the store: bearer requests
 * are metered exactly like an L402 prepaid token's.
 */
export class PaymentGate {
  constructor(private readonly deps: PaymentGateDeps) {}

  /** Undefined when the request carries no Payment credential. */
  async authenticate(authorization: readonly string[], service: ServiceConfig): Promise<PaymentOutcome | undefined> {
    let credential: PaymentCredential | undefined;
    try {
      credential = parsePaymentAuthorization(authorization);
    } catch (error) {
      if (!(error instanceof PaymentError)) throw error;
      this.count(service, "-", "-", error.type);
      return { kind: "refused", refusal: { type: error.type, detail: error.message } };
    }
    if (credential === undefined) return undefined;
    const { intent } = credential.challenge;
    let action = "charge";
    try {
      await this.checkChallenge(credential, service);
      if (intent === "charge") return this.counted(service, intent, action, await this.charge(credential, service));
      const payload = parsePaymentPayload(credential.payload, lightningSessionPayloadSchema);
      action = payload.action;
      return this.counted(service, intent, action, await this.session(credential, payload, service));
    } catch (error) {
      if (error instanceof Refused) {
        this.count(service, intent, action, error.refusal.type);
        return { kind: "refused", refusal: { challengeId: credential.challenge.id, ...error.refusal } };
      }
      if (error instanceof PaymentError) {
        this.count(service, intent, action, error.type);
        return {
          kind: "refused",
          refusal: { type: error.type, detail: error.message, challengeId: credential.challenge.id },
        };
      }
      throw error;
    }
  }

  private counted(service: ServiceConfig, intent: string, action: string, outcome: PaymentOutcome): PaymentOutcome {
    this.count(service, intent, action, "ok");
    return outcome;
  }

  private count(service: ServiceConfig, intent: string, action: string, outcome: string): void {
    this.deps.metrics.paymentCredentials.inc({ service: service.name, intent, action, outcome });
  }

  /** Method, intent, realm, HMAC, service, expiry (required for anything that spends a new invoice). */
  private async checkChallenge(credential: PaymentCredential, service: ServiceConfig): Promise<void> {
    const challenge = credential.challenge;
    if (challenge.method !== LIGHTNING_METHOD) {
      refused("method-unsupported", `method ${challenge.method} is not accepted; use lightning`);
    }
    const offered = PaymentOffers.intentOf(service);
    if (challenge.intent !== offered) {
      refused("invalid-challenge", `intent ${challenge.intent} is not accepted by ${service.name}`);
    }
    if (challenge.realm !== this.deps.config.payment.realm)
      refused("invalid-challenge", "the challenge is of another realm");
    if (!isBoundChallenge(serviceSecret(await this.deps.secret(), service.name), challenge)) {
      refused("invalid-challenge", `the challenge was not issued by this gateway for ${service.name}, or was altered`);
    }
  }

  private requireUnexpired(credential: PaymentCredential): void {
    const expires = credential.challenge.expires === undefined ? undefined : parseExpires(credential.challenge.expires);
    if (expires === undefined) refused("payment-expired", "the challenge has no valid expires");
    else if (expires.getTime() <= Date.now()) refused("payment-expired", "the challenge has expired; pay a fresh one");
  }

  private async requireSettled(paymentHash: string): Promise<void> {
    const settled = await this.deps.backend.lookupSettlement(paymentHash);
    if (!settled) refused("verification-failed", "the invoice is not settled");
  }

  private async charge(credential: PaymentCredential, service: ServiceConfig): Promise<PaymentOutcome> {
    this.requireUnexpired(credential);
    const request = decodePaymentRequest(credential.challenge.request, lightningChargeRequestSchema);
    const { preimage } = parsePaymentPayload(credential.payload, lightningChargePayloadSchema);
    const hash = request.methodDetails.paymentHash;
    if (hash === undefined || !preimageHexProves(preimage, hash)) {
      refused("verification-failed", "the preimage does not match the invoice's payment hash");
    }
    const paymentHash = hash as string;
    await this.requireSettled(paymentHash);
    const claimed = await this.deps.store.claimCharge({
      paymentHash,
      service: service.name,
      sats: Number(request.amount),
      challengeId: credential.challenge.id,
      at: new Date(),
    });
    if (!claimed) refused("invalid-challenge", "this challenge was already used; pay a fresh one");
    this.deps.metrics.recordPaid({ service: service.name, sats: Number(request.amount) });
    return { kind: "charge", receipt: receipt(paymentHash, credential.challenge.id) };
  }

  private async session(
    credential: PaymentCredential,
    payload: LightningSessionPayload,
    service: ServiceConfig,
  ): Promise<PaymentOutcome> {
    const request = decodePaymentRequest(credential.challenge.request, lightningSessionRequestSchema);
    const challengeId = credential.challenge.id;
    switch (payload.action) {
      case "open": {
        const token = await this.open(credential, request, payload.preimage, payload.returnInvoice, service);
        return {
          kind: "session",
          auth: { ok: true, token, caveats: [] },
          receipt: receipt(token.tokenId, challengeId),
        };
      }
      case "bearer": {
        const token = await this.liveSession(payload.sessionId, payload.preimage, service);
        return {
          kind: "session",
          auth: { ok: true, token, caveats: [] },
          receipt: receipt(token.tokenId, challengeId),
        };
      }
      case "topUp":
        return {
          kind: "reply",
          reply: await this.topUp(credential, request, payload.sessionId, payload.topUpPreimage, service),
        };
      case "close":
        return { kind: "reply", reply: await this.close(payload.sessionId, payload.preimage, service) };
    }
  }

  private async open(
    credential: PaymentCredential,
    request: LightningSessionRequest,
    preimage: string,
    returnInvoice: string,
    service: ServiceConfig,
  ): Promise<TokenRecord> {
    this.requireUnexpired(credential);
    if (!preimageHexProves(preimage, request.paymentHash)) {
      refused("verification-failed", "the preimage does not match the deposit's payment hash");
    }
    const deposit = Number(request.depositAmount ?? 0);
    if (!(deposit > 0) || request.depositInvoice === undefined) refused("invalid-challenge", "not an open challenge");
    try {
      const network = networkOfInvoice(request.depositInvoice ?? "");
      const checked = await this.deps.refunds.checkInvoice(returnInvoice, network);
      if (checked.amountMsat !== undefined)
        refused("lightning/invalid-return-invoice", "the return invoice must have no amount");
    } catch (error) {
      if (error instanceof RefundInvoiceError) refused("lightning/invalid-return-invoice", error.message);
      throw error;
    }
    await this.requireSettled(request.paymentHash);
    const now = new Date();
    const validUntil = new Date(now.getTime() + service.tokenLifetimeSeconds * 1000);
    const hash = Buffer.from(request.paymentHash, "hex");
    // A real token (macaroon and root key) backs the session, so it is an account like any prepaid L402 token.
    const minted = mintToken({
      paymentHash: hash,
      tokenId: hash,
      location: this.deps.config.macaroonLocation,
      caveats: tokenCaveats(service, validUntil),
    });
    const opened = await this.deps.store.openSession(
      {
        token: {
          tokenId: request.paymentHash,
          rootKeyId: minted.rootKeyId.toString("hex"),
          rootKey: minted.rootKey,
          paymentHash: request.paymentHash,
          service: service.name,
          priceSats: deposit,
          invoice: request.depositInvoice ?? "",
          createdAt: now,
          invoiceExpiresAt: now,
          validUntil,
          metered: true,
        },
        returnInvoice: returnInvoice.trim(),
        challengeId: credential.challenge.id,
      },
      now,
    );
    if (!opened.ok) return refused("invalid-challenge", "this deposit was already used");
    if (opened.token.service !== service.name) refused("invalid-challenge", "this session belongs to another service");
    if (!opened.repeated) this.deps.metrics.recordPaid({ service: service.name, sats: deposit });
    return opened.token;
  }

  /** The session `sessionId` after checking its preimage; refused when unknown, closed or of another service. */
  private async liveSession(
    sessionId: string,
    preimage: string | undefined,
    service: ServiceConfig,
  ): Promise<TokenRecord> {
    const token = await this.deps.store.getToken(sessionId);
    if (token?.scheme !== "payment") return refused("lightning/session-not-found", "no such session");
    if (preimage !== undefined && !preimageHexProves(preimage, sessionId)) {
      refused("verification-failed", "the preimage is not the session's deposit preimage");
    }
    if (token.service !== service.name) refused("invalid-challenge", "this session belongs to another service");
    if (token.status !== "paid") refused("lightning/session-closed", "the session is closed");
    if (token.validUntil.getTime() <= Date.now()) refused("lightning/session-closed", "the session has expired");
    return token;
  }

  private async topUp(
    credential: PaymentCredential,
    request: LightningSessionRequest,
    sessionId: string,
    preimage: string,
    service: ServiceConfig,
  ): Promise<PaymentReply> {
    this.requireUnexpired(credential);
    await this.liveSession(sessionId, undefined, service);
    if (!preimageHexProves(preimage, request.paymentHash)) {
      refused("verification-failed", "the top-up preimage does not match the invoice's payment hash");
    }
    const sats = Number(request.depositAmount ?? 0);
    if (!(sats > 0)) refused("invalid-challenge", "not a top-up challenge");
    await this.requireSettled(request.paymentHash);
    const credited = await this.deps.store.creditTopUp(sessionId, {
      paymentHash: request.paymentHash,
      service: service.name,
      sats,
      challengeId: credential.challenge.id,
      at: new Date(),
    });
    if (credited === "used") refused("invalid-challenge", "this payment was already used");
    if (credited === "closed") refused("lightning/session-closed", "the session is closed");
    if (credited === "credited") this.deps.metrics.recordPaid({ service: service.name, sats });
    const token = await this.deps.store.getToken(sessionId);
    return {
      status: 200,
      body: {
        status: "ok",
        sessionId,
        credited: credited === "credited",
        balance_msat: token?.account.balanceMsat ?? 0,
      },
      receipt: receipt(sessionId, credential.challenge.id),
    };
  }

  private async close(sessionId: string, preimage: string, service: ServiceConfig): Promise<PaymentReply> {
    const token = await this.deps.store.getToken(sessionId);
    if (token?.scheme !== "payment") return refused("lightning/session-not-found", "no such session");
    if (!preimageHexProves(preimage, sessionId))
      refused("verification-failed", "the preimage is not the session's deposit preimage");
    if (token.service !== service.name) refused("invalid-challenge", "this session belongs to another service");
    const closed = await this.deps.refunds.close(token, token.returnInvoice);
    if (!closed.ok) {
      const { status, code, message } = closeRefused(closed.refusal);
      return { status, body: { code, message, sessionId } };
    }
    const { refund } = closed;
    const refundStatus = refund.status === "pending" ? "failed" : refund.status;
    const refundSats = Math.floor(refund.amountMsat / 1000);
    return {
      status: 200,
      // refundState is the stored state: `pending` while LND has not answered (refundStatus then says failed, as
      // Aperture does); a repeated close answers the latest.
      body: {
        status: "closed",
        sessionId,
        refundSats,
        refundMsat: refund.amountMsat,
        refundStatus,
        refundState: refund.status,
      },
      receipt: formatPaymentReceipt({ ...receiptFields(sessionId), refundSats, refundStatus }),
    };
  }
}

function receiptFields(reference: string): PaymentReceipt {
  return {
    status: "success",
    method: LIGHTNING_METHOD,
    timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    reference,
  };
}

function receipt(reference: string, challengeId: string): string {
  return formatPaymentReceipt({ ...receiptFields(reference), challengeId });
}
