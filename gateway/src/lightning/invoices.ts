import { CodedError } from "@l402-gateway/l402";

/** What the gateway needs from a Lightning node: invoices in, settlements out. LND implements it. */

export interface CreatedInvoice {
  readonly paymentHash: string;
  readonly request: string;
  readonly expiresAt: Date;
}

export interface Settlement {
  readonly paymentHash: string;
  /** The node's settle index, a cursor for resuming after a restart. */
  readonly settleIndex: number;
  readonly settledAt: Date;
}

export interface InvoiceBackend {
  createInvoice(args: { sats: number; memo: string; expirySeconds: number }): Promise<CreatedInvoice>;
  /** The settlement of one invoice, if it is settled. */
  lookupSettlement(paymentHash: string): Promise<Settlement | undefined>;
  /** Streams settlements with a settle index above `afterIndex` (the backlog first). Returns a function that stops it. */
  subscribeSettlements(afterIndex: number, onSettled: (s: Settlement) => void, onError: (e: Error) => void): () => void;
  /** Resolves if the node answers. */
  ping(): Promise<void>;
}

/** The node could not be reached or refused: new challenges cannot be issued. */
export class LightningUnavailableError extends CodedError<"lightning_unavailable"> {
  override readonly name = "LightningUnavailableError";

  constructor(message: string, options?: ErrorOptions) {
    super("lightning_unavailable", message, options);
  }
}
