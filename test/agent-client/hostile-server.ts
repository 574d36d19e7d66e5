import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
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
