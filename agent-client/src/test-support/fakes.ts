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
