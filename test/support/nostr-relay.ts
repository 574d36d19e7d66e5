import type { AddressInfo } from "node:net";
import {
  type Event,
  EventRepository,
  type EventRepositoryUpsertResult,
  EventType,
  EventUtils,
  type Filter,
  type IncomingMessage,
} from "@nostr-relay/common";
import { NostrRelay } from "@nostr-relay/core";
import { WebSocketServer } from "ws";

/** Stored events in memory: the relay lives as long as one test file. Ephemeral events never reach it. */
class MemoryEventRepository extends EventRepository {
  private events: Event[] = [];

  isSearchSupported(): boolean {
    return false;
  }

  upsert(event: Event): EventRepositoryUpsertResult {
    if (this.events.some((stored) => stored.id === event.id)) return { isDuplicate: true };
    const type = EventUtils.getType(event.kind);
    const dTag = EventUtils.extractDTagValue(event);
    const replaces = (stored: Event) =>
      stored.pubkey === event.pubkey &&
      stored.kind === event.kind &&
      (type === EventType.REPLACEABLE ||
        (type === EventType.PARAMETERIZED_REPLACEABLE && EventUtils.extractDTagValue(stored) === dTag));
    if (type === EventType.REPLACEABLE || type === EventType.PARAMETERIZED_REPLACEABLE) {
      if (this.events.some((stored) => replaces(stored) && stored.created_at > event.created_at)) {
        return { isDuplicate: true };
      }
      this.events = this.events.filter((stored) => !replaces(stored));
    }
    this.events.push(event);
    return { isDuplicate: false };
  }

  find(filter: Filter): Event[] {
    const matching = this.events
      .filter((event) => EventUtils.isMatchingFilter(event, filter))
      .sort((a, b) => b.created_at - a.created_at);
    return filter.limit === undefined ? matching : matching.slice(0, filter.limit);
  }

  async destroy(): Promise<void> {
    this.events = [];
  }
}

export interface LocalRelay {
  /** ws://127.0.0.1:<port> */
  readonly url: string;
  close(): Promise<void>;
}

/** A Nostr relay on loopback: `@nostr-relay/core` (NIP-01 messages, event checks, subscriptions) over `ws`. */
export async function startNostrRelay(): Promise<LocalRelay> {
  const relay = new NostrRelay(new MemoryEventRepository());
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  server.on("connection", (socket, request) => {
    relay.handleConnection(socket, request.socket.remoteAddress);
    socket.on("message", (data) => {
      let message: unknown;
      try {
        message = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (!Array.isArray(message) || typeof message[0] !== "string") return;
      relay.handleMessage(socket, message as IncomingMessage).catch(() => undefined);
    });
    socket.on("close", () => relay.handleDisconnect(socket));
    socket.on("error", () => socket.terminate());
  });
  await new Promise<void>((resolve) => server.once("listening", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    async close() {
      for (const client of server.clients) client.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await relay.destroy();
    },
  };
}
