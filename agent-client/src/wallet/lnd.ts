import { quietIpServernameWarning } from "@l402-gateway/l402";
import {
  type AuthenticatedLnd,
  authenticatedLndGrpc,
  createInvoice,
  type GetPaymentResult,
  getInvoice,
  getPayment,
  subscribeToPayViaRequest,
} from "lightning";
import { z } from "zod";
import { L402ClientError } from "../errors.js";
import { outcomeFromLookup } from "./outcome.js";
import type {
  PaymentLookup,
  PaymentOrder,
  PaymentResult,
  ReturnInvoice,
  ReturnInvoiceOrder,
  Wallet,
} from "./wallet.js";

export interface LndConnection {
  /** host:port of LND's gRPC listener. */
  readonly socket: string;
  /** Base64 of tls.cert (PEM or DER); omit for a certificate signed by a known CA. */
  readonly cert?: string;
  /** Base64 or hex of a macaroon with offchain:read and offchain:write (admin.macaroon works). */
  readonly macaroon: string;
}

const confirmedSchema = z.object({
  id: z.string(),
  secret: z.string().regex(/^[0-9a-f]{64}$/),
  fee_mtokens: z.string().regex(/^[0-9]+$/),
});

const failedSchema = z.object({
  is_insufficient_balance: z.boolean().optional(),
  is_invalid_payment: z.boolean().optional(),
  is_pathfinding_timeout: z.boolean().optional(),
  is_route_not_found: z.boolean().optional(),
  is_canceled: z.boolean().optional(),
});

/** Pays from an LND node through the `lightning` package (SendPaymentV2 / TrackPaymentV2). */
export class LndWallet implements Wallet {
  /** LND records a payment (TrackPaymentV2 / ListPayments) before it sends an HTLC: unknown means never sent. */
  readonly lookupIsAuthoritative = true;

  constructor(private readonly lnd: AuthenticatedLnd) {}

  static connect(connection: LndConnection): LndWallet {
    quietIpServernameWarning(connection.socket);
    const { lnd } = authenticatedLndGrpc({
      socket: connection.socket,
      macaroon: connection.macaroon,
      ...(connection.cert === undefined ? {} : { cert: connection.cert }),
    });
    return new LndWallet(lnd);
  }

  pay(order: PaymentOrder): Promise<PaymentResult> {
    return new Promise<PaymentResult>((resolvePayment, rejectPayment) => {
      let subscription: ReturnType<typeof subscribeToPayViaRequest>;
      try {
        subscription = subscribeToPayViaRequest({
          lnd: this.lnd,
          request: order.invoice,
          max_fee: order.maxFeeSats,
          pathfinding_timeout: order.timeoutMs,
        });
      } catch (error) {
        // Refused before anything was sent (the package validates the request first).
        rejectPayment(notSent(order.paymentHash, error));
        return;
      }
      let settled = false;
      const finish = (outcome: () => Promise<PaymentResult>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        subscription.removeAllListeners();
        // A late 'error' from the stream must not crash the process once we stopped listening.
        subscription.on("error", () => undefined);
        outcome().then(resolvePayment, rejectPayment);
      };
      // On a timeout or a stream error the payment may still be in flight: ask LND what happened to it.
      const fromLookup = (why: string) => async () => outcomeFromLookup(this, order.paymentHash, why, true);
      const timer = setTimeout(finish, order.timeoutMs, fromLookup(`no outcome after ${order.timeoutMs} ms`));
      subscription.on("confirmed", (event: unknown) => {
        finish(async () => toResult(confirmedSchema.parse(event)));
      });
      subscription.on("failed", (event: unknown) => {
        finish(async () => {
          throw new L402ClientError("payment_failed", `payment failed: ${failureReason(event)}`, {
            paymentHash: order.paymentHash,
          });
        });
      });
      subscription.on("error", (error: unknown) => finish(fromLookup(describeLndError(error))));
    });
  }

  async lookupPayment(paymentHash: string): Promise<PaymentLookup> {
    let status: GetPaymentResult;
    try {
      status = await getPayment({ lnd: this.lnd, id: paymentHash });
    } catch (error) {
      if (Array.isArray(error) && error[0] === 404) return { status: "unknown" };
      throw new Error(`LND could not look up payment ${paymentHash}: ${describeLndError(error)}`, { cause: error });
    }
    if (status.is_confirmed && status.payment) {
      return { status: "succeeded", ...toResult(confirmedSchema.parse(status.payment)) };
    }
    if (status.is_failed) return { status: "failed", reason: failureReason(status.failed) };
    return { status: "pending" };
  }

  /** Needs invoices:write (admin.macaroon has it). */
  async createReturnInvoice(order: ReturnInvoiceOrder): Promise<ReturnInvoice> {
    const created = await createInvoice({
      lnd: this.lnd,
      description: order.description,
      expires_at: new Date(Date.now() + order.expirySeconds * 1000).toISOString(),
    });
    return { invoice: created.request, paymentHash: created.id };
  }

  /** Needs invoices:read. */
  async receivedOn(paymentHash: string): Promise<number> {
    const invoice = await getInvoice({ lnd: this.lnd, id: paymentHash });
    return invoice.is_confirmed ? invoice.received : 0;
  }
}

function notSent(paymentHash: string, error: unknown): L402ClientError {
  const reason = error instanceof Error ? error.message : String(error);
  return new L402ClientError("payment_failed", `payment not sent: ${reason}`, { paymentHash }, { cause: error });
}

function toResult(confirmed: z.infer<typeof confirmedSchema>): PaymentResult {
  return {
    paymentHash: confirmed.id,
    preimage: confirmed.secret,
    feeSats: Number((BigInt(confirmed.fee_mtokens) + 999n) / 1000n),
  };
}

function failureReason(event: unknown): string {
  const parsed = failedSchema.safeParse(event);
  if (!parsed.success) return "unknown reason";
  const flags = parsed.data;
  if (flags.is_insufficient_balance) return "insufficient balance";
  if (flags.is_route_not_found) return "no route within the fee limit";
  if (flags.is_pathfinding_timeout) return "pathfinding timed out";
  if (flags.is_invalid_payment) return "rejected by the destination (unknown or already paid invoice)";
  if (flags.is_canceled) return "canceled";
  return "unknown reason";
}

/** The `lightning` package reports errors as [code, message, details]. */
function describeLndError(error: unknown): string {
  if (Array.isArray(error)) {
    const [code, message, details] = error as [unknown, unknown, unknown];
    const inner = z.object({ err: z.object({ details: z.string() }) }).safeParse(details);
    return `${String(message)} (${String(code)}${inner.success ? `: ${inner.data.err.details}` : ""})`;
  }
  return error instanceof Error ? error.message : String(error);
}
