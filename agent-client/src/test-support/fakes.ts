import {
  decodeMacaroon,
  formatChallenge,
  L402Error,
  mintToken,
  parseAuthorization,
  rootKeyId,
  servicesCaveat,
  verifyToken,
} from "@l402-gateway/l402";
import { L402ClientError } from "../errors.js";
import type { PaymentLookup, PaymentOrder, PaymentResult, Wallet } from "../wallet/wallet.js";
import { makeInvoice } from "./invoices.js";

/** Invoices the fake gateway issued, by payment hash, with their preimages: what a real node would know. */
export class FakeLightning {
  readonly preimages = new Map<string, string>();
  readonly paid = new Set<string>();

  issue(amountSats: number, expiresInSeconds = 600): { invoice: string; paymentHash: string } {
    const made = makeInvoice({ amountSats, expiresInSeconds });
    this.preimages.set(made.paymentHash, made.preimage);
    return made;
  }
}

export type FakeWalletMode = "ok" | "fail" | "timeout" | "crash-after-paying" | "hang";

/** Pays FakeLightning invoices by looking up their preimages. Logic tests only: the real one is LndWallet. */
export class FakeWallet implements Wallet {
  /** Like LND: a payment it has no record of was never sent. */
  readonly lookupIsAuthoritative = true;
  mode: FakeWalletMode = "ok";
  readonly orders: PaymentOrder[] = [];

  constructor(private readonly lightning: FakeLightning) {}

  async pay(order: PaymentOrder): Promise<PaymentResult> {
    this.orders.push(order);
    const preimage = this.lightning.preimages.get(order.paymentHash);
    if (this.mode === "fail" || !preimage) {
      throw new L402ClientError("payment_failed", "no route", { paymentHash: order.paymentHash });
    }
    if (this.mode === "timeout") {
      throw new L402ClientError("payment_timeout", "still in flight", { paymentHash: order.paymentHash });
    }
    if (this.mode === "hang") return new Promise<PaymentResult>(() => {});
    this.lightning.paid.add(order.paymentHash);
    if (this.mode === "crash-after-paying") throw new Error("the process died after sending the payment");
    return { paymentHash: order.paymentHash, preimage, feeSats: 1 };
  }

  async lookupPayment(paymentHash: string): Promise<PaymentLookup> {
    const preimage = this.lightning.preimages.get(paymentHash);
    if (this.lightning.paid.has(paymentHash) && preimage) {
      return { status: "succeeded", paymentHash, preimage, feeSats: 1 };
    }
    return { status: "unknown" };
  }
}

export interface FakeService {
  readonly name: string;
  readonly prefix: string;
  readonly priceSats: number;
}

/**
 * A gateway in a function: services by path prefix, a fresh invoice and macaroon per 402 (LSAT then L402, as
 * Aperture and our gateway send), offline verification with l402's verifyToken.
 */
export class FakeGateway {
  readonly requests: { path: string; authorization: string | null; body: string }[] = [];
  readonly rootKeys = new Map<string, Buffer>();
  readonly revoked = new Set<string>();
  /** Replaces the WWW-Authenticate values of every 402, to test malformed challenges. */
  challengeOverride: ((real: { macaroon: string; invoice: string }) => string[]) | undefined;
  /** Refuse every credential, as a broken server would. */
  refuseAll = false;
  invoiceExpirySeconds = 600;

  constructor(
    readonly lightning: FakeLightning,
    readonly services: readonly FakeService[],
  ) {}

  readonly fetch = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const body = request.body ? await request.text() : "";
    const authorization = request.headers.get("authorization");
    this.requests.push({ path: url.pathname, authorization, body });
    const service = this.services.find((candidate) => url.pathname.startsWith(candidate.prefix));
    if (!service) return Response.json({ free: true, path: url.pathname });
    if (authorization && !this.refuseAll && this.#accepts(authorization, service.name)) {
      return Response.json({ service: service.name, path: url.pathname, body, method: request.method });
    }
    return this.#challenge(service);
  };

  #accepts(authorization: string, service: string): boolean {
    try {
      const credential = parseAuthorization(authorization);
      const macaroon = decodeMacaroon(credential.macaroons[0] ?? "");
      const keyId = rootKeyId(macaroon.identifierBytes).toString("hex");
      const rootKey = this.rootKeys.get(keyId);
      if (!rootKey || this.revoked.has(macaroon.identifier.paymentHash.toString("hex"))) return false;
      verifyToken({ macaroon, preimage: credential.preimage, rootKey, service, issuerCaveats: 1 });
      return true;
    } catch (error) {
      if (error instanceof L402Error) return false;
      throw error;
    }
  }

  #challenge(service: FakeService): Response {
    const { invoice, paymentHash } = this.lightning.issue(service.priceSats, this.invoiceExpirySeconds);
    const token = mintToken({
      paymentHash: Buffer.from(paymentHash, "hex"),
      caveats: [servicesCaveat([{ name: service.name, tier: 0 }])],
    });
    this.rootKeys.set(token.rootKeyId.toString("hex"), token.rootKey);
    const values =
      this.challengeOverride?.({ macaroon: token.macaroonBase64, invoice }) ??
      formatChallenge({ macaroonBase64: token.macaroonBase64, invoice });
    const headers = new Headers();
    for (const value of values) headers.append("www-authenticate", value);
    return new Response(JSON.stringify({ code: "missing", price_sats: service.priceSats }), { status: 402, headers });
  }
}

/** Where a payment stands at the wallet double: sent and unresolved, or finished. */
export type PaymentState = "in_flight" | "succeeded" | "failed";

/** One call of `pay` on the double: its order and how it is answered (once; later answers are ignored). */
export interface PayAttempt {
  readonly order: PaymentOrder;
  /** When the request expires (ms): a remote wallet ignores it after that, as NIP-47 asks. */
  readonly expiresAt: number;
  readonly answer: (outcome: PaymentResult | Error) => void;
  answered: boolean;
}

/** A reply on its way back to the payer, for one attempt. */
export interface QueuedReply {
  readonly attempt: PayAttempt;
  readonly outcome: PaymentResult | L402ClientError;
}

/**
 * A wallet double that models payments in flight: a payment hash is unknown, then in flight, then succeeded or
 * failed, each step taken when the test says so, and a pay request for a hash already in flight or paid is refused
 * as a wallet refuses it ("already paid": `payment_failed`). Its requests and replies are queues the test delivers,
 * duplicates, drops and reorders.
 *
 * `remote` is an NWC-like wallet: a pay request travels (it reaches the wallet only when `arrive` is called, maybe
 * more than once) and `lookupIsAuthoritative` is false. Otherwise LND-like: the request reaches it at once.
 */
export class InFlightWallet implements Wallet {
  readonly lookupIsAuthoritative: boolean;
  /** Pay requests on their way to the wallet (remote only). */
  readonly requests: PayAttempt[] = [];
  /** Requests that reached the wallet, for replays. */
  readonly arrived: PayAttempt[] = [];
  readonly replies: QueuedReply[] = [];
  readonly payments = new Map<string, { state: PaymentState; amountSats: number; attempt: PayAttempt }>();
  /** Every `pay` not answered yet. */
  readonly outstanding = new Set<PayAttempt>();
  lookupsDown = false;
  /** Counts every call in, for tests that wait until nothing moves. */
  activity = 0;

  constructor(
    private readonly lightning: FakeLightning,
    readonly remote: boolean,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.lookupIsAuthoritative = !remote;
  }

  pay(order: PaymentOrder): Promise<PaymentResult> {
    this.activity++;
    return new Promise<PaymentResult>((resolve, reject) => {
      const attempt: PayAttempt = {
        order,
        expiresAt: this.now().getTime() + order.timeoutMs,
        answered: false,
        answer: (outcome) => {
          if (attempt.answered) return;
          attempt.answered = true;
          this.outstanding.delete(attempt);
          this.activity++;
          if (outcome instanceof Error) reject(outcome);
          else resolve(outcome);
        },
      };
      this.outstanding.add(attempt);
      if (this.remote) this.requests.push(attempt);
      else this.receive(attempt);
    });
  }

  /**
   * A pay request reaches the wallet (again, if replayed): a new payment, or one that failed before, goes in flight;
   * one in flight or paid is refused. A remote wallet ignores an expired request.
   */
  receive(attempt: PayAttempt): void {
    this.activity++;
    if (this.remote && this.now().getTime() > attempt.expiresAt) return;
    this.arrived.push(attempt);
    const { paymentHash, amountSats } = attempt.order;
    const existing = this.payments.get(paymentHash);
    if (existing && existing.state !== "failed") {
      const refusal = new L402ClientError("payment_failed", `payment ${existing.state}: already paid or in flight`, {
        paymentHash,
      });
      this.replies.push({ attempt, outcome: refusal });
      return;
    }
    this.payments.set(paymentHash, { state: "in_flight", amountSats, attempt });
  }

  /** An in-flight payment ends; its reply is queued for the attempt that sent it. */
  finish(paymentHash: string, succeeded: boolean): void {
    const payment = this.payments.get(paymentHash);
    if (payment?.state !== "in_flight") return;
    this.activity++;
    const preimage = this.lightning.preimages.get(paymentHash);
    if (succeeded && preimage) {
      payment.state = "succeeded";
      this.lightning.paid.add(paymentHash);
      this.replies.push({ attempt: payment.attempt, outcome: { paymentHash, preimage, feeSats: 1 } });
    } else {
      payment.state = "failed";
      this.replies.push({
        attempt: payment.attempt,
        outcome: new L402ClientError("payment_failed", "no route", { paymentHash }),
      });
    }
  }

  /** Sats the wallet has sent or committed: succeeded (with the fee) and in flight. */
  spentSats(): number {
    let sum = 0;
    for (const payment of this.payments.values()) {
      if (payment.state === "succeeded") sum += payment.amountSats + 1;
      if (payment.state === "in_flight") sum += payment.amountSats;
    }
    return sum;
  }

  async lookupPayment(paymentHash: string): Promise<PaymentLookup> {
    this.activity++;
    if (this.lookupsDown) throw new Error("the wallet cannot be reached");
    const payment = this.payments.get(paymentHash);
    const preimage = this.lightning.preimages.get(paymentHash);
    switch (payment?.state) {
      case undefined:
        return { status: "unknown" };
      case "in_flight":
        return { status: "pending" };
      case "failed":
        return { status: "failed", reason: "no route" };
      case "succeeded":
        return preimage ? { status: "succeeded", paymentHash, preimage, feeSats: 1 } : { status: "pending" };
    }
  }
}
