export class QueueFullError extends Error {
  constructor(readonly queueDepth: number) {
    super(`all sequences are busy and the queue is full (${queueDepth} waiting)`);
  }
}

export class AbortedWhileQueuedError extends Error {
  constructor() {
    super("request aborted while waiting for a sequence");
  }
}

interface Waiter<T> {
  resolve(slot: T): void;
  reject(error: Error): void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/**
 * A fixed set of slots (one context sequence each) behind a bounded FIFO queue.
 * `acquire` never waits when a slot is idle and nobody queues ahead; past `maxQueue` waiters it fails fast,
 * so the HTTP layer can answer 503 instead of building an unbounded backlog.
 */
export class SlotPool<T> {
  readonly #idle: T[];
  readonly #waiters: Waiter<T>[] = [];
  readonly #total: number;

  constructor(
    slots: readonly T[],
    private readonly maxQueue: number,
  ) {
    this.#idle = [...slots];
    this.#total = slots.length;
  }

  get total(): number {
    return this.#total;
  }

  get idle(): number {
    return this.#idle.length;
  }

  get busy(): number {
    return this.#total - this.#idle.length;
  }

  get queueDepth(): number {
    return this.#waiters.length;
  }

  /**
   * @param preference scores idle slots (higher is better), e.g. by how much of the prompt a sequence already holds.
   */
  acquire(signal?: AbortSignal, preference?: (slot: T) => number): Promise<T> {
    if (signal?.aborted) return Promise.reject(new AbortedWhileQueuedError());
    if (this.#waiters.length === 0 && this.#idle.length > 0) {
      return Promise.resolve(this.#takeIdle(preference));
    }
    if (this.#waiters.length >= this.maxQueue) return Promise.reject(new QueueFullError(this.#waiters.length));
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.#waiters.indexOf(waiter);
          if (index >= 0) this.#waiters.splice(index, 1);
          reject(new AbortedWhileQueuedError());
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  release(slot: T): void {
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.resolve(slot);
      return;
    }
    this.#idle.push(slot);
  }

  /** Rejects every waiter, for shutdown. */
  rejectWaiters(error: Error): void {
    for (const waiter of this.#waiters.splice(0)) {
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.reject(error);
    }
  }

  #takeIdle(preference?: (slot: T) => number): T {
    let bestIndex = 0;
    if (preference && this.#idle.length > 1) {
      let bestScore = Number.NEGATIVE_INFINITY;
      this.#idle.forEach((slot, index) => {
        const score = preference(slot);
        if (score > bestScore) {
          bestScore = score;
          bestIndex = index;
        }
      });
    }
    const [slot] = this.#idle.splice(bestIndex, 1);
    if (slot === undefined) throw new Error("no idle slot");
    return slot;
  }
}
