import { readFileSync } from "node:fs";
import { quietIpServernameWarning } from "@l402-gateway/l402";
import {
  type AuthenticatedLnd,
  authenticatedLndGrpc,
  type GetInvoiceResult,
  getInvoice,
  getInvoices,
  subscribeToInvoices,
} from "lightning";
import { z } from "zod";
import type { GatewayConfig } from "../config/schema.js";
import { type CreatedInvoice, type InvoiceBackend, LightningUnavailableError, type Settlement } from "./invoices.js";

/** The `lightning` package reports errors as [code, message, details] arrays. */
export function describeLndError(error: unknown): string {
  if (Array.isArray(error)) {
    const details = error[2] as { err?: { details?: string } } | undefined;
    return [error[1], details?.err?.details].filter(Boolean).join(": ");
  }
  return error instanceof Error ? error.message : String(error);
}

function readCredential(inline: string | undefined, path: string | undefined, what: string): string {
  if (inline !== undefined) return inline;
  if (path === undefined) throw new Error(`no ${what} configured`);
  try {
    return readFileSync(path).toString("base64");
  } catch (error) {
    throw new Error(`cannot read LND ${what} at ${path}: ${(error as Error).message}`);
  }
}

export function connectLnd(config: GatewayConfig["lnd"]): AuthenticatedLnd {
  const cert = readCredential(config.cert, config.certPath, "TLS certificate");
  const macaroon = readCredential(config.macaroon, config.macaroonPath, "macaroon");
  // grpc-js names an IP socket as the TLS ServerName: Node's DEP0123 on each start, and nothing else dropped.
  quietIpServernameWarning(config.socket);
  return authenticatedLndGrpc({ cert, macaroon, socket: config.socket }).lnd;
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Of AddInvoice's answer, what a challenge needs: the payment hash and the BOLT 11 request. */
const addInvoiceAnswer = z.object({ r_hash: z.instanceof(Buffer), payment_request: z.string().min(1) });

/**
 * One AddInvoice call and nothing else. The `lightning` package's createInvoice also decodes the new invoice twice in
 * JavaScript and asks LookupInvoice for it: a second LND call per 402 challenge, and most of the gateway's own CPU
 * time per challenge, for fields the gateway does not use.
 */
function addInvoice(
  lnd: AuthenticatedLnd,
  args: { sats: number; memo: string; expirySeconds: number },
): Promise<{ paymentHash: string; request: string }> {
  return new Promise((resolve, reject) => {
    const request = { value: args.sats, memo: args.memo, expiry: Math.round(args.expirySeconds) };
    lnd.default.addInvoice(request, (error: unknown, answer: unknown) => {
      if (error) return reject(error);
      const parsed = addInvoiceAnswer.safeParse(answer);
      if (!parsed.success) return reject(new Error("AddInvoice answered without a payment hash and request"));
      resolve({ paymentHash: parsed.data.r_hash.toString("hex"), request: parsed.data.payment_request });
    });
  });
}

/** InvoiceBackend on LND through the `lightning` package. Needs only invoices:read and invoices:write. */
export class LndInvoiceBackend implements InvoiceBackend {
  constructor(
    private readonly lnd: AuthenticatedLnd,
    private readonly timeoutMs: number,
  ) {}

  async createInvoice(args: { sats: number; memo: string; expirySeconds: number }): Promise<CreatedInvoice> {
    const expiresAt = new Date(Date.now() + args.expirySeconds * 1000);
    try {
      const invoice = await withTimeout(addInvoice(this.lnd, args), this.timeoutMs, "LND AddInvoice");
      return { ...invoice, expiresAt };
    } catch (error) {
      throw new LightningUnavailableError(`LND could not create an invoice: ${describeLndError(error)}`);
    }
  }

  async lookupSettlement(paymentHash: string): Promise<Settlement | undefined> {
    let invoice: GetInvoiceResult;
    try {
      invoice = await withTimeout(getInvoice({ lnd: this.lnd, id: paymentHash }), this.timeoutMs, "LND getInvoice");
    } catch (error) {
      throw new LightningUnavailableError(`LND could not look up invoice ${paymentHash}: ${describeLndError(error)}`);
    }
    if (!invoice.is_confirmed || !invoice.confirmed_at) return undefined;
    // getInvoice does not return the settle index; 0 leaves the subscription cursor where it is.
    return { paymentHash, settleIndex: 0, settledAt: new Date(invoice.confirmed_at) };
  }

  subscribeSettlements(
    afterIndex: number,
    onSettled: (s: Settlement) => void,
    onError: (e: Error) => void,
  ): () => void {
    const subscription = subscribeToInvoices({
      lnd: this.lnd,
      ...(afterIndex > 0 ? { confirmed_after: afterIndex } : {}),
    });
    subscription.on(
      "invoice_updated",
      (invoice: { id: string; is_confirmed: boolean; confirmed_index?: number; confirmed_at?: string }) => {
        if (!invoice.is_confirmed || invoice.confirmed_index === undefined) return;
        onSettled({
          paymentHash: invoice.id,
          settleIndex: invoice.confirmed_index,
          settledAt: invoice.confirmed_at ? new Date(invoice.confirmed_at) : new Date(),
        });
      },
    );
    subscription.on("error", (error: unknown) => onError(new LightningUnavailableError(describeLndError(error))));
    return () => subscription.removeAllListeners();
  }

  async ping(): Promise<void> {
    try {
      await withTimeout(getInvoices({ lnd: this.lnd, limit: 1 }), this.timeoutMs, "LND getInvoices");
    } catch (error) {
      throw new LightningUnavailableError(`LND does not answer: ${describeLndError(error)}`);
    }
  }
}
