import { type ClientState, emptyState } from "./state.js";
import type { ClientStore } from "./store.js";

/** Keeps everything in memory: tokens, receipts and budget spending are lost when the process ends. */
export class MemoryStore implements ClientStore {
  #state: ClientState = emptyState();

  async read(): Promise<ClientState> {
    return structuredClone(this.#state);
  }

  async update<T>(mutate: (state: ClientState) => T): Promise<T> {
    const draft = structuredClone(this.#state);
    const result = mutate(draft);
    this.#state = draft;
    return result;
  }
}
