import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  buildPaymentChallenge,
  decodeMacaroon,
  formatChallenge,
  formatPaymentChallenge,
  L402Error,
  mintToken,
  PaymentError,
  parseAuthorization,
  parsePaymentAuthorization,
  rootKeyId,
  servicesCaveat,
  verifyToken,
} from "@l402-gateway/l402";
import { cancelHodlInvoice, createHodlInvoice, createInvoice, settleHodlInvoice } from "lightning";
import { lndClient } from "../regtest/network-file.js";
import { network } from "./support.js";

const aliceInvoices = lndClient(network.nodes.alice, "invoice");

export interface ChallengeOptions {
  /** Service named in the macaroon's services caveat. */
  readonly service: string;
  readonly sats: number;
  /** A hold invoice on alice, settled only by `settle` (or never). */
  readonly hold?: boolean;
  /** Final CLTV delta of the invoice, in blocks. */
  readonly cltvDelta?: number;
  /** Bind the macaroon to another hash than the invoice's. */
  readonly foreignHash?: boolean;
  /** Extra headers on the 402. */
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

export interface Seen {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly body: string;
}

/** A Payment credential whose preimage proves a payment of one of this server's invoices. */
export interface PaidPayment {
  readonly intent: "charge" | "session";
  /** `charge`, or the session action: `open`, `bearer`, `topUp`, `close`. */
  readonly action: string;
  /** The invoice the preimage pays: the charge's, the deposit's (open, bearer, close) or the top-up's. */
  readonly paymentHash: string;
  readonly sessionId?: string;
}

export type Behaviour = (request: Seen, res: ServerResponse, server: HostileServer) => Promise<void> | void;

/**
 * An L402 server a test programs call by call, with real invoices (plain or hold) from alice: what a malicious or
 * broken server can do to a paying agent. `behaviour` decides each answer; `challenge` and `paidService` are the
 * honest building blocks it may use or subvert.
 */
export class HostileServer {
  readonly seen: Seen[] = [];
  behaviour: Behaviour = async (request, res, server) => {
    if (server.paidService(request)) res.writeHead(200).end("served");
    else await server.challenge(res, { service: "svc", sats: 3 });
  };
  readonly #rootKeys = new Map<string, { rootKey: Buffer; service: string }>();
  readonly #holds = new Map<string, string>();
  /** Payment hashes of the invoices its Payment offers asked for. */
  readonly #paymentHashes = new Set<string>();
  readonly #secret = randomBytes(32);
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<HostileServer> {
    const server = createServer();
    const hostile = new HostileServer(server);
    server.on("request", (req, res) => {
      hostile.#handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    await new Promise<void>((resolveListen) => server.listen(0, "127.0.0.1", resolveListen));
    return hostile;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Answers 402 with a fresh invoice from alice and a macaroon for `options.service`. */
  async challenge(res: ServerResponse, options: ChallengeOptions): Promise<void> {
    let request: string;
    let id: string;
    if (options.hold) {
      const secret = randomBytes(32);
      id = createHash("sha256").update(secret).digest("hex");
      this.#holds.set(id, secret.toString("hex"));
      ({ request } = await createHodlInvoice({ lnd: aliceInvoices, id, tokens: options.sats, ...cltv(options) }));
    } else {
      ({ request, id } = await createInvoice({ lnd: aliceInvoices, tokens: options.sats, ...cltv(options) }));
    }
    const paymentHash = options.foreignHash ? randomBytes(32) : Buffer.from(id, "hex");
    const token = mintToken({ paymentHash, caveats: [servicesCaveat([{ name: options.service, tier: 0 }])] });
    this.#rootKeys.set(token.rootKeyId.toString("hex"), { rootKey: token.rootKey, service: options.service });
    res.writeHead(402, {
      ...options.headers,
      "www-authenticate": formatChallenge({ macaroonBase64: token.macaroonBase64, invoice: request }),
    });
    res.end(options.body ?? "");
  }

  /** The service of the valid paid token the request carries, or undefined. */
  paidService(request: Seen): string | undefined {
    try {
      const credential = parseAuthorization(request.authorization ?? "");
      const macaroon = decodeMacaroon(credential.macaroons[0] ?? "");
      const minted = this.#rootKeys.get(rootKeyId(macaroon.identifierBytes).toString("hex"));
      if (!minted) return undefined;
      // It mints one caveat, services: that one is the issuer's.
      verifyToken({
        macaroon,
        preimage: credential.preimage,
        rootKey: minted.rootKey,
        service: minted.service,
        issuerCaveats: 1,
      });
      return minted.service;
    } catch (error) {
      if (error instanceof L402Error) return undefined;
      throw error;
    }
  }

  /** Answers 402 with a Payment `charge` offer for a fresh invoice from alice. */
  async chargeChallenge(res: ServerResponse, sats: number): Promise<void> {
    const { request, id } = await createInvoice({ lnd: aliceInvoices, tokens: sats });
    this.#paymentHashes.add(id);
    const challenge = this.#paymentChallenge("charge", {
      amount: String(sats),
      currency: "sat",
      methodDetails: { invoice: request, paymentHash: id, network: "regtest" },
    });
    res.writeHead(402, { "www-authenticate": challenge }).end();
  }

  /**
   * Answers 402 with a Payment `session` offer: a deposit (or, to an open session's bearer request, a top-up) of
   * `depositSats`, `unitSats` a call. `also` adds other challenges beside it (an L402 one, say).
   */
  async sessionChallenge(
    res: ServerResponse,
    options: { unitSats: number; depositSats: number; also?: readonly string[] },
  ): Promise<void> {
    const { request, id } = await createInvoice({ lnd: aliceInvoices, tokens: options.depositSats });
    this.#paymentHashes.add(id);
    const challenge = this.#paymentChallenge("session", {
      amount: String(options.unitSats),
      currency: "sat",
      depositInvoice: request,
      paymentHash: id,
      depositAmount: String(options.depositSats),
      idleTimeout: "300",
    });
    res.writeHead(402, { "www-authenticate": [...(options.also ?? []), challenge] }).end();
  }

  /** An L402 challenge line (the `L402` one) for `sats`, to offer beside a Payment one. */
  async l402ChallengeLine(options: ChallengeOptions): Promise<string> {
    const { request, id } = await createInvoice({ lnd: aliceInvoices, tokens: options.sats });
    const token = mintToken({
      paymentHash: Buffer.from(id, "hex"),
      caveats: [servicesCaveat([{ name: options.service, tier: 0 }])],
    });
    this.#rootKeys.set(token.rootKeyId.toString("hex"), { rootKey: token.rootKey, service: options.service });
    return formatChallenge({ macaroonBase64: token.macaroonBase64, invoice: request })[1];
  }

  /** The Payment credential the request carries, when its preimage pays an invoice of this server; else undefined. */
  paidPayment(request: Seen): PaidPayment | undefined {
    let credential: ReturnType<typeof parsePaymentAuthorization>;
    try {
      credential = parsePaymentAuthorization(request.authorization ?? "");
    } catch (error) {
      if (error instanceof PaymentError) return undefined;
      throw error;
    }
    if (!credential) return undefined;
    const payload = credential.payload as Record<string, string | undefined>;
    const intent = credential.challenge.intent === "charge" ? "charge" : "session";
    const action = intent === "charge" ? "charge" : (payload.action ?? "");
    const preimage = payload.topUpPreimage ?? payload.preimage ?? "";
    const paymentHash = createHash("sha256").update(Buffer.from(preimage, "hex")).digest("hex");
    if (!/^[0-9a-f]{64}$/i.test(preimage) || !this.#paymentHashes.has(paymentHash)) return undefined;
    return {
      intent,
      action,
      paymentHash,
      ...(payload.sessionId === undefined ? {} : { sessionId: payload.sessionId }),
    };
  }

  /** The draft's acknowledgement of a top-up: small JSON naming the session. */
  acknowledgeTopUp(res: ServerResponse, sessionId: string): void {
    const body = JSON.stringify({ status: "ok", sessionId });
    res
      .writeHead(200, { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) })
      .end(body);
  }

  #paymentChallenge(intent: "charge" | "session", request: object): string {
    return formatPaymentChallenge(
      buildPaymentChallenge({
        secret: this.#secret,
        realm: "hostile",
        method: "lightning",
        intent,
        request,
        expires: new Date(Date.now() + 600_000),
      }),
    );
  }

  settle(paymentHash: string): Promise<void> {
    return settleHodlInvoice({ lnd: aliceInvoices, secret: this.#holds.get(paymentHash) ?? "" });
  }

  /** Cancels every hold invoice (so that no HTLC stays locked in the channel) and stops listening. */
  async close(): Promise<void> {
    for (const id of this.#holds.keys()) await cancelHodlInvoice({ lnd: aliceInvoices, id }).catch(() => undefined);
    this.#server.closeAllConnections();
    await new Promise<void>((resolveClose) => this.#server.close(() => resolveClose()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const seen: Seen = {
      method: req.method ?? "",
      path: req.url ?? "",
      authorization: req.headers.authorization,
      body: Buffer.concat(chunks).toString(),
    };
    this.seen.push(seen);
    await this.behaviour(seen, res, this);
  }
}

function cltv(options: ChallengeOptions): { cltv_delta?: number } {
  return options.cltvDelta === undefined ? {} : { cltv_delta: options.cltvDelta };
}
