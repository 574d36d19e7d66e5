/**
 * One holder at a time per key. Used per origin: the calls that meet a 402 at once queue here, the first pays, and
 * each later one re-reads the token cache when its turn comes and finds the token the first one bought.
 */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release = () => {};
    const current = new Promise<void>((resolveRelease) => {
      release = resolveRelease;
    });
    const tail = previous.then(() => current);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await task();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Resolves once everything queued for `key` so far has finished. */
  async idle(key: string): Promise<void> {
    await this.#tails.get(key);
  }
}
