import type { AddressInfo } from "node:net";
import {
  type Event,
  EventRepository,
  type EventRepositoryUpsertResult,
  EventType,
  EventUtils,
  type Filter,
  type IncomingMessage,
  LogLevel,
} from "@nostr-relay/common";
import { NostrRelay } from "@nostr-relay/core";
import { type WebSocket, WebSocketServer } from "ws";

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

/**
 * Decides what becomes of an event a connection published, in place of the relay's honest handling: `deliver`
 * hands it on (callable again, later, or never), `acknowledge` tells the publisher it was accepted (as a relay that
 * swallows it would). An ephemeral event (NIP-47's requests and responses) is delivered straight to the
 * subscriptions it matches, with none of the relay's checks: a hostile relay delivers an expired request too.
 */
export type EventGate = (event: Event, deliver: () => void, acknowledge: () => void) => void;

export interface NostrRelayOptions {
  /** Every published event goes through this instead of straight to the relay (see HostileRelay). */
  readonly gate?: EventGate;
}

/** A Nostr relay on loopback: `@nostr-relay/core` (NIP-01 messages, event checks, subscriptions) over `ws`. */
export async function startNostrRelay(options: NostrRelayOptions = {}): Promise<LocalRelay> {
  const relay = new NostrRelay(new MemoryEventRepository(), { logLevel: LogLevel.ERROR });
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  // The gate's own view of subscriptions, to deliver ephemeral events past the relay's checks.
  const subscriptions = new Map<WebSocket, Map<string, Filter[]>>();
  const broadcast = (event: Event) => {
    for (const [socket, bySocket] of subscriptions) {
      for (const [id, filters] of bySocket) {
        if (socket.readyState !== socket.OPEN) continue;
        if (filters.some((filter) => EventUtils.isMatchingFilter(event, filter))) {
          socket.send(JSON.stringify(["EVENT", id, event]));
        }
      }
    }
  };
  server.on("connection", (socket, request) => {
    relay.handleConnection(socket, request.socket.remoteAddress);
    subscriptions.set(socket, new Map());
    socket.on("message", (data) => {
      let message: unknown;
      try {
        message = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (!Array.isArray(message) || typeof message[0] !== "string") return;
      const handle = () => relay.handleMessage(socket, message as IncomingMessage).catch(() => undefined);
      if (message[0] === "REQ" && typeof message[1] === "string") {
        subscriptions.get(socket)?.set(message[1], message.slice(2) as Filter[]);
      }
      if (message[0] === "CLOSE" && typeof message[1] === "string") subscriptions.get(socket)?.delete(message[1]);
      const event = message[0] === "EVENT" ? (message[1] as Event | undefined) : undefined;
      if (!options.gate || !event || typeof event.id !== "string") {
        handle();
        return;
      }
      const ephemeral = EventUtils.getType(event.kind) === EventType.EPHEMERAL;
      options.gate(event, ephemeral ? () => broadcast(event) : handle, () => {
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(["OK", event.id, true, ""]));
      });
    });
    socket.on("close", () => {
      subscriptions.delete(socket);
      relay.handleDisconnect(socket);
    });
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
