import { PAYMENT_RECEIPT_HEADER, parseExactPaymentReceipt } from "@l402-gateway/l402";
import type { L402Event } from "../events.js";
import { invoicePaymentHash } from "../invoice.js";
import type { ClientState, Refund } from "../store/state.js";
import type { ClientStore } from "../store/store.js";
import type { Wallet } from "../wallet/wallet.js";

/** What a server said of a refund when an account closed. */
export interface AnnouncedRefund {
  /** null when the server did not say (Aperture omits 0), read exactly up to the int64 maximum. */
  readonly sats: bigint | null;
  readonly status: "succeeded" | "failed" | "skipped" | null;
}

/** One refund to collect: the account it closes (its payment hash), where it was announced, and its invoice. */
export interface RefundToCollect {
  readonly origin: string;
  /** The payment hash of the receipt the refund is recorded on: the token's, or the session id. */
  readonly reference: string;
  readonly returnInvoice: string;
  readonly announced: AnnouncedRefund;
  /** A change to the store made after the refund is recorded and before it is reported (forgetting a token). */
  readonly afterRecord?: (state: ClientState) => void;
}

export interface RefundCollectorOptions {
  readonly store: ClientStore;
  readonly wallet: Wallet;
  readonly now: () => Date;
  readonly onEvent: (event: L402Event) => void;
  /** How long to wait for a refund to reach the wallet before recording it as `pending`. */
  readonly refundWaitMs: number;
}

/** How often collecting a refund looks at the wallet. */
const REFUND_POLL_MS = 250;

/**
 * Collects refunds of closed accounts (L402 tokens, Payment sessions): watches the wallet for the return invoice
 * to be paid, records what came back on the account's receipt, and reports it; later looks again at pending ones.
 */
export class RefundCollector {
  constructor(private readonly options: RefundCollectorOptions) {}

  async collect(target: RefundToCollect): Promise<Refund> {
    const { store, now, onEvent } = this.options;
    const { announced, returnInvoice } = target;
    const receivedSats = announced.sats === 0n ? 0 : await this.#awaitRefund(returnInvoice);
    const exact = announced.sats !== null && announced.sats > BigInt(Number.MAX_SAFE_INTEGER);
    const refund: Refund = {
      announcedSats: announced.sats === null || exact ? null : Number(announced.sats),
      ...(exact ? { announcedSatsExact: String(announced.sats) } : {}),
      receivedSats: receivedSats ?? null,
      status: refundStatus(announced, receivedSats),
      returnInvoice,
      closedAt: now().toISOString(),
    };
    await this.#record(target.reference, refund);
    const { afterRecord } = target;
    if (afterRecord) await store.update((state) => afterRecord(state));
    onEvent({ type: "refund", origin: target.origin, reference: target.reference, refund });
    return refund;
  }

  /** Looks again at refunds recorded as pending: the wallet may have received them since. */
  async resolve(): Promise<Refund[]> {
    // Aperture v0.5.0 answers a close before its refund is sent and calls it pending, which reads as failed.
    const receiptsWithRefunds = (await this.options.store.read()).receipts.filter(
      (receipt) => receipt.refund?.status === "pending" || receipt.refund?.status === "failed",
    );
    const resolved: Refund[] = [];
    for (const receipt of receiptsWithRefunds) {
      const refund = receipt.refund;
      if (!refund) continue;
      const received = await this.#received(refund.returnInvoice);
      if (received === undefined || received === 0) continue;
      const updated: Refund = { ...refund, receivedSats: received, status: "succeeded" };
      await this.#record(receipt.paymentHash, updated);
      resolved.push(updated);
    }
    return resolved;
  }

  /** Sats received on the return invoice, waiting up to `refundWaitMs`; undefined when the wallet cannot tell. */
  async #awaitRefund(returnInvoice: string): Promise<number | undefined> {
    const deadline = Date.now() + this.options.refundWaitMs;
    for (;;) {
      const received = await this.#received(returnInvoice);
      if (received === undefined || received > 0 || Date.now() >= deadline) return received;
      await new Promise((resolveWait) => setTimeout(resolveWait, REFUND_POLL_MS));
    }
  }

  async #received(returnInvoice: string): Promise<number | undefined> {
    const { wallet } = this.options;
    const receivedOn = wallet.receivedOn?.bind(wallet);
    if (!receivedOn) return undefined;
    try {
      return await receivedOn(invoicePaymentHash(returnInvoice));
    } catch {
      return undefined;
    }
  }

  async #record(paymentHash: string, refund: Refund): Promise<void> {
    await this.options.store.update((state) => {
      const receipt = state.receipts.find((candidate) => candidate.paymentHash === paymentHash);
      if (receipt) receipt.refund = refund;
    });
  }
}

/** What a session's close receipt says of the refund; nothing known without a readable receipt. */
export function announcedInReceipt(headers: Headers): AnnouncedRefund {
  const header = headers.get(PAYMENT_RECEIPT_HEADER);
  if (header === null) return { sats: null, status: null };
  try {
    const receipt = parseExactPaymentReceipt(header);
    return { sats: receipt.refundSats ?? null, status: receipt.refundStatus ?? null };
  } catch {
    return { sats: null, status: null };
  }
}

function refundStatus(announced: AnnouncedRefund, receivedSats: number | undefined): Refund["status"] {
  if (receivedSats !== undefined && receivedSats > 0) return "succeeded";
  if (announced.sats === 0n || announced.status === "skipped") return "skipped";
  return announced.status === "failed" ? "failed" : "pending";
}
