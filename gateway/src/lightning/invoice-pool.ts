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
  /** Classes kept at once; the one asked for least recently makes room. */
  readonly maxClasses: number;
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
  /** Asked for (or warmed) often enough to be worth invoices made ahead: a one-off amount is not. */
  proven: boolean;
}

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

const keyOf = (c: InvoiceClass) => `${c.sats}\u0000${c.expirySeconds}\u0000${c.memo}`;

/**
 * An InvoiceBackend that hands out invoices created ahead of time, so a burst of challenges does not wait on the
 * node's AddInvoice. Invoices are kept per class (amount, memo, expiry): a new price is a new class, so an invoice
 * is never handed out at an amount other than the one asked for. A class is learnt on its second request (or `warm`), then
 * refilled in the background, at most `concurrency` calls at once; when a class is empty the call goes to the node.
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

  /** Starts filling these classes before anyone asks (the fixed prices known at start). */
  warm(classes: readonly InvoiceClass[]): void {
    for (const c of classes) this.classOf(c).proven = true;
    this.refill();
  }

  async createInvoice(args: InvoiceClass): Promise<CreatedInvoice> {
    const state = this.classOf(args);
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

  private classOf(args: InvoiceClass): ClassState {
    const key = keyOf(args);
    let state = this.classes.get(key);
    if (!state) {
      state = {
        args: { sats: args.sats, memo: args.memo, expirySeconds: args.expirySeconds },
        ready: [],
        pending: 0,
        lastAskedAt: 0,
        proven: false,
      };
      this.classes.set(key, state);
      if (this.classes.size > this.options.maxClasses) this.evictLeastAsked(key);
    } else {
      // A second request: an amount asked for once (an odd deposit) never costs the node more than its own invoice.
      state.proven = true;
    }
    state.lastAskedAt = this.now();
    return state;
  }

  private evictLeastAsked(keep: string): void {
    let oldest: [string, ClassState] | undefined;
    for (const entry of this.classes) {
      if (entry[0] !== keep && (!oldest || entry[1].lastAskedAt < oldest[1].lastAskedAt)) oldest = entry;
    }
    if (oldest) this.classes.delete(oldest[0]);
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

  private wanted(state: ClassState, now: number): boolean {
    return state.proven && !this.idle(state, now);
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, state] of this.classes) {
      this.dropOld(state);
      if (this.idle(state, now) && state.ready.length === 0 && state.pending === 0) this.classes.delete(key);
    }
    this.refill();
  }

  /** Starts refill calls, emptiest class first, up to the concurrency bound. */
  private refill(): void {
    if (this.closed || this.retryTimer) return;
    const now = this.now();
    while (this.inFlight < this.options.concurrency) {
      let emptiest: ClassState | undefined;
      for (const state of this.classes.values()) {
        const have = state.ready.length + state.pending;
        if (have < this.options.size && this.wanted(state, now)) {
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
      // A class evicted or a pool closed meanwhile: the invoice was never shown, so it just expires on the node.
      if (!this.closed && this.classes.get(keyOf(state.args)) === state) state.ready.push({ invoice, createdAt });
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
