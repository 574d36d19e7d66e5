import type { ClientState } from "./state.js";

/**
 * Where the client keeps tokens, route hints, receipts (pending payments included) and saved budget limits.
 * `update` is the only way to write: it runs `mutate` on a private copy of the current state and makes the result
 * durable before resolving, so a caller that awaited `update` may act on what it wrote (pay after recording a
 * pending receipt). Updates are serialized; `mutate` must be synchronous and may throw to abort without writing.
 */
export interface ClientStore {
  read(): Promise<ClientState>;
  update<T>(mutate: (state: ClientState) => T): Promise<T>;
}
