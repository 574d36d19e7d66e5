import type { Logger } from "pino";
import type { SettledPayment, Settlements } from "../store/store.js";
import type { InvoiceBackend, Settlement } from "./invoices.js";

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
/** Unpaid tokens whose invoice expired less than this long ago are checked against LND on (re)connect. */
const RECONCILE_WINDOW_MS = 24 * 3_600_000;

/**
 * Marks tokens paid as LND settles their invoices. Resumes from the stored settle index after a restart or an LND
 * reconnect, and on each (re)connect also asks LND about every unpaid, unexpired token, so a settlement made while
 * nobody watched is never missed even when the index cannot replay it.
 */
export class SettlementWatcher {
  private unsubscribe: (() => void) | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs = MIN_BACKOFF_MS;
  private stopped = false;
  private healthy = false;

  constructor(
    private readonly backend: InvoiceBackend,
    private readonly store: Settlements,
    private readonly log: Logger,
    private readonly onPaid: (payment: SettledPayment) => void = () => {},
  ) {}

  /** True while the subscription is up and the last reconciliation succeeded. */
  get connected(): boolean {
    return this.healthy;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.healthy = false;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      const after = await this.store.settleIndex();
      this.unsubscribe = this.backend.subscribeSettlements(
        after,
        (settlement) => void this.record(settlement),
        (error) => this.onError(error),
      );
      await this.reconcile();
      this.healthy = true;
      this.backoffMs = MIN_BACKOFF_MS;
    } catch (error) {
      this.onError(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private onError(error: Error): void {
    this.healthy = false;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.stopped || this.retryTimer) return;
    this.log.warn({ err: error.message, retryInMs: this.backoffMs }, "invoice subscription lost; retrying");
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
  }

  private async reconcile(): Promise<void> {
    const unpaid = await this.store.unpaidPaymentHashes(new Date(Date.now() - RECONCILE_WINDOW_MS));
    for (const paymentHash of unpaid) {
      try {
        const settlement = await this.backend.lookupSettlement(paymentHash);
        if (settlement) await this.record(settlement);
      } catch (error) {
        // One invoice the node no longer knows must not stall the others; a lost connection also ends the
        // subscription, which retries the whole reconciliation.
        this.log.debug({ err: (error as Error).message, paymentHash }, "settlement lookup failed");
      }
    }
  }

  private async record(settlement: Settlement): Promise<void> {
    try {
      const paid = await this.store.markPaid(settlement.paymentHash, settlement.settledAt);
      if (settlement.settleIndex > 0) await this.store.advanceSettleIndex(settlement.settleIndex);
      if (paid) {
        this.onPaid(paid);
        this.log.info({ service: paid.service, sats: paid.sats, kind: paid.kind }, "invoice paid");
      }
    } catch (error) {
      this.log.error({ err: (error as Error).message }, "could not record a settlement");
    }
  }
}
