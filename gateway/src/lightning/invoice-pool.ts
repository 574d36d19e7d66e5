import type { CreatedInvoice, InvoiceBackend, Settlement } from "./invoices.js";

/** What one invoice is asked for; invoices of one class are interchangeable. */
export interface InvoiceClass {
  readonly sats: number;
  readonly memo: string;
  readonly expirySeconds: number;
}

export interface InvoicePoolOptions {
  /** Invoices kept ready per class. */
  readonly size: number;
  /** A ready invoice older than this is dropped, so one handed out has at least `expirySeconds - maxAgeSeconds` left. */
  readonly maxAgeSeconds: number;
  /** At most this many refill calls to the node at once. */
  readonly concurrency: number;
  /** Classes pooled at most: those the operator declares (`warm`) beyond it get their invoices on demand. */
  readonly maxClasses: number;
  /** Invoices held (ready, or being made) over all classes at once. */
  readonly maxInvoices: number;
  /** A class nobody asked for in this long is no longer refilled (an old price stops costing invoices). */
  readonly idleSeconds: number;
}

export interface InvoicePoolEvents {
  hit(): void;
  miss(): void;
  /** A ready invoice dropped unused because it grew too old. */
  expired(count: number): void;
}

interface Ready {
  readonly invoice: CreatedInvoice;
  readonly createdAt: number;
}

interface ClassState {
  readonly args: InvoiceClass;
  readonly ready: Ready[];
  pending: number;
  lastAskedAt: number;
}

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

const keyOf = (c: InvoiceClass) => `${c.sats}\u0000${c.expirySeconds}\u0000${c.memo}`;

/**
 * An InvoiceBackend that hands out invoices created ahead of time, so a burst of challenges does not wait on the
 * node's AddInvoice. Invoices are kept per class (amount, memo, expiry), so an invoice is never handed out at an
 * amount other than the one asked for. Only the classes the operator declares (`warm`: the fixed prices and the
 * configured deposits) are pooled and refilled in the background, at most `concurrency` calls at once and at most
 * `maxInvoices` held over all classes; any other amount (an odd deposit an unpaid client asks for) gets its invoice
 * from the node on demand, one per challenge, so what strangers ask for never becomes invoices made ahead. An
 * unpaid client thus makes the node create at most one invoice per challenge it is allowed (one taken and refilled,
 * or one made on demand). When a class is empty the call goes to the node.
 *
 * The pool lives in one process and holds only invoices that process created: nobody else knows their payment
 * hashes or requests until one is taken, and taking is a synchronous `shift()` on the event loop, so each is handed
 * out once. Replicas and workers each keep their own pool; none can take another's invoice. An invoice lost with a
 * stopped process was never shown to anyone, so it simply expires unpaid on the node.
 */
export class InvoicePool implements InvoiceBackend {
  private readonly classes = new Map<string, ClassState>();
  private inFlight = 0;
  private backoffMs = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly inner: InvoiceBackend,
    private readonly options: InvoicePoolOptions,
    private readonly events: InvoicePoolEvents = { hit() {}, miss() {}, expired() {} },
    private readonly now: () => number = Date.now,
  ) {
    const sweepMs = Math.max(250, Math.min(5_000, (options.maxAgeSeconds * 1000) / 4));
    this.sweepTimer = setInterval(() => this.sweep(), sweepMs);
    this.sweepTimer.unref();
  }

  /** Invoices ready to hand out, over all classes. */
  get size(): number {
    let n = 0;
    for (const state of this.classes.values()) n += state.ready.length;
    return n;
  }

  /** Invoices being made by refills right now. */
  get creating(): number {
    return this.inFlight;
  }

  /**
   * Declares the classes to pool (the operator's prices and deposits) and starts filling them; the first `maxClasses`
   * distinct ones are kept, any others are made on demand.
   */
  warm(classes: readonly InvoiceClass[]): void {
    const now = this.now();
    for (const c of classes) {
      const key = keyOf(c);
      if (this.classes.has(key) || this.classes.size >= this.options.maxClasses) continue;
      const args = { sats: c.sats, memo: c.memo, expirySeconds: c.expirySeconds };
      this.classes.set(key, { args, ready: [], pending: 0, lastAskedAt: now });
    }
    this.refill();
  }

  async createInvoice(args: InvoiceClass): Promise<CreatedInvoice> {
    const state = this.classes.get(keyOf(args));
    if (!state) {
      this.events.miss();
      return this.inner.createInvoice(args);
    }
    state.lastAskedAt = this.now();
    this.dropOld(state);
    const taken = state.ready.shift();
    this.refill();
    if (taken) {
      this.events.hit();
      return taken.invoice;
    }
    this.events.miss();
    return this.inner.createInvoice(args);
  }

  lookupSettlement(paymentHash: string): Promise<Settlement | undefined> {
    return this.inner.lookupSettlement(paymentHash);
  }

  subscribeSettlements(
    afterIndex: number,
    onSettled: (s: Settlement) => void,
    onError: (e: Error) => void,
  ): () => void {
    return this.inner.subscribeSettlements(afterIndex, onSettled, onError);
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  /** Stops refilling and forgets every ready invoice (they expire unpaid on the node). */
  close(): void {
    this.closed = true;
    clearInterval(this.sweepTimer);
    clearTimeout(this.retryTimer);
    this.classes.clear();
  }

  /** True while a ready invoice has at least `expirySeconds - maxAgeSeconds` of its life left. */
  private fresh(state: ClassState, ready: Ready, now: number): boolean {
    const minimumLeftMs = (state.args.expirySeconds - this.options.maxAgeSeconds) * 1000;
    return (
      now - ready.createdAt < this.options.maxAgeSeconds * 1000 &&
      ready.invoice.expiresAt.getTime() - now >= minimumLeftMs
    );
  }

  private dropOld(state: ClassState): void {
    const now = this.now();
    const before = state.ready.length;
    // Entries are in creation order, so the old ones are at the front.
    while (state.ready[0] && !this.fresh(state, state.ready[0], now)) state.ready.shift();
    if (state.ready.length < before) this.events.expired(before - state.ready.length);
  }

  private idle(state: ClassState, now: number): boolean {
    return now - state.lastAskedAt >= this.options.idleSeconds * 1000;
  }

  /** Ready and being made, over all classes: what `maxInvoices` bounds. */
  private held(): number {
    let n = 0;
    for (const state of this.classes.values()) n += state.ready.length + state.pending;
    return n;
  }

  private sweep(): void {
    for (const state of this.classes.values()) this.dropOld(state);
    this.refill();
  }

  /** Starts refill calls, emptiest class first, up to the concurrency bound. */
  private refill(): void {
    if (this.closed || this.retryTimer) return;
    const now = this.now();
    while (this.inFlight < this.options.concurrency && this.held() < this.options.maxInvoices) {
      let emptiest: ClassState | undefined;
      for (const state of this.classes.values()) {
        const have = state.ready.length + state.pending;
        // A class nobody asked for in idleSeconds is not refilled (an old price stops costing invoices).
        if (have < this.options.size && !this.idle(state, now)) {
          if (!emptiest || have < emptiest.ready.length + emptiest.pending) emptiest = state;
        }
      }
      if (!emptiest) return;
      void this.createOne(emptiest);
    }
  }

  private async createOne(state: ClassState): Promise<void> {
    this.inFlight++;
    state.pending++;
    try {
      const createdAt = this.now();
      const invoice = await this.inner.createInvoice(state.args);
      // A pool closed meanwhile: the invoice was never shown, so it just expires on the node.
      if (!this.closed) state.ready.push({ invoice, createdAt });
      this.backoffMs = 0;
    } catch {
      // The node refused or is unreachable: challenges fall through to it directly (and see its error there);
      // refills pause and back off so a down node is not hammered.
      this.backoffMs = Math.min(Math.max(this.backoffMs * 2, MIN_BACKOFF_MS), MAX_BACKOFF_MS);
      if (!this.retryTimer && !this.closed) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.refill();
        }, this.backoffMs);
        this.retryTimer.unref();
      }
    } finally {
      this.inFlight--;
      state.pending--;
      this.refill();
    }
  }
}
