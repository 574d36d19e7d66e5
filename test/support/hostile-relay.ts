import type { Event } from "@nostr-relay/common";
import { type LocalRelay, startNostrRelay } from "./nostr-relay.js";

/**
 * What becomes of one published event: handed on, held back (until `release`), dropped (acknowledged, never
 * delivered), or delivered twice.
 */
export type Verdict = "pass" | "hold" | "drop" | "duplicate";

/** A NIP-47 event as the relay saw it, in arrival order. */
export interface RelayedEvent {
  readonly event: Event;
  /** request: client to wallet service (kind 23194); response: wallet service to client (kind 23195). */
  readonly direction: "request" | "response" | "other";
  /** What the rule decided. */
  readonly verdict: Verdict;
}

interface Waiter {
  readonly matches: (seen: RelayedEvent) => boolean;
  readonly resolve: (seen: RelayedEvent) => void;
}

/**
 * A relay that does to NIP-47 traffic what a hostile relay can: `rule` decides, event by event in arrival order,
 * whether to pass, hold, drop or duplicate it; held events are released later (in arrival or reverse order, so
 * reordered), and any event seen can be replayed (delivered again, to whoever subscribes then). It cannot read or
 * forge contents: a test that wants to decide by method gives the rule a reader (the wallet service's `inspect`).
 * Tests wait on `seen(...)`, never on time.
 */
export class HostileRelay {
  rule: (seen: Omit<RelayedEvent, "verdict">) => Verdict | Promise<Verdict> = () => "pass";
  readonly log: RelayedEvent[] = [];
  readonly #deliveries = new Map<string, () => void>();
  #held: RelayedEvent[] = [];
  #waiters: Waiter[] = [];
  #queue: Promise<void> = Promise.resolve();

  private constructor(private readonly relay: LocalRelay) {}

  get url(): string {
    return this.relay.url;
  }

  static async start(): Promise<HostileRelay> {
    const arrivals: { gate?: (event: Event, deliver: () => void, acknowledge: () => void) => void } = {};
    const relay = await startNostrRelay({ gate: (...args) => arrivals.gate?.(...args) });
    const hostile = new HostileRelay(relay);
    arrivals.gate = (event, deliver, acknowledge) => hostile.#arrive(event, deliver, acknowledge);
    return hostile;
  }

  /** The first event (already seen or still to come) that `matches`. */
  seen(matches: (seen: RelayedEvent) => boolean): Promise<RelayedEvent> {
    const past = this.log.find(matches);
    if (past) return Promise.resolve(past);
    return new Promise((resolve) => this.#waiters.push({ matches, resolve }));
  }

  /** Events the rule held and not yet released. */
  get held(): readonly RelayedEvent[] {
    return this.#held;
  }

  /** Delivers the held events that match (all by default), in arrival order or reversed; returns them. */
  release(matches: (seen: RelayedEvent) => boolean = () => true, order: "arrival" | "reverse" = "arrival"): Event[] {
    const chosen = this.#held.filter(matches);
    this.#held = this.#held.filter((seen) => !matches(seen));
    if (order === "reverse") chosen.reverse();
    for (const seen of chosen) this.replay(seen.event);
    return chosen.map((seen) => seen.event);
  }

  /** Delivers an event the relay saw once more, as if it had just been published again. */
  replay(event: Event): void {
    const deliver = this.#deliveries.get(event.id);
    if (!deliver) throw new Error(`the relay never saw event ${event.id}`);
    deliver();
  }

  async close(): Promise<void> {
    await this.relay.close();
  }

  #arrive(event: Event, deliver: () => void, acknowledge: () => void): void {
    if (!this.#deliveries.has(event.id)) this.#deliveries.set(event.id, deliver);
    // One at a time, in arrival order, even when the rule takes a while to decide.
    this.#queue = this.#queue.then(async () => {
      const direction = event.kind === 23194 ? "request" : event.kind === 23195 ? "response" : "other";
      let verdict: Verdict;
      try {
        verdict = await this.rule({ event, direction });
      } catch {
        verdict = "pass";
      }
      const seen: RelayedEvent = { event, direction, verdict };
      this.log.push(seen);
      acknowledge();
      if (verdict === "pass" || verdict === "duplicate") deliver();
      if (verdict === "duplicate") deliver();
      if (verdict === "hold") this.#held.push(seen);
      const ready = this.#waiters.filter((waiter) => waiter.matches(seen));
      this.#waiters = this.#waiters.filter((waiter) => !ready.includes(waiter));
      for (const waiter of ready) waiter.resolve(seen);
    });
  }
}
