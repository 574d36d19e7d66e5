import type { Logger } from "pino";
import type { ServiceConfig } from "../config/schema.js";
import { upstreamsOf } from "../config/upstreams.js";
import { upstreamLoadSchema } from "./load.js";
import { upstreamUrl } from "./url.js";

export interface UpstreamState {
  readonly url: string;
  readonly healthy: boolean;
  /** Busy sequences plus queued requests, as last reported (0 when the upstream does not report load). */
  readonly reportedLoad: number;
  readonly slots: number;
  /** Requests this gateway has in flight there now. */
  readonly inFlight: number;
}

class Member implements UpstreamState {
  healthy = true;
  failures = 0;
  reportedLoad = 0;
  slots = 1;
  inFlight = 0;

  constructor(readonly url: string) {}

  /** Lower is better: expected work per slot once this request joins. */
  get score(): number {
    return (this.reportedLoad + this.inFlight) / Math.max(this.slots, 1);
  }
}

/**
 * The upstreams of one service. Picks the least-loaded healthy one (busy sequences and queue depth from each
 * backend's health endpoint, plus this gateway's own requests in flight), ejects one after `ejectAfterFailures`
 * failed checks or connection failures, and brings it back at its first successful check.
 */
export class UpstreamPool {
  private readonly members: Member[];
  private timer: NodeJS.Timeout | undefined;
  private turn = 0;

  constructor(
    readonly service: Pick<ServiceConfig, "name" | "upstream" | "upstreams" | "healthPath" | "upstreamPool">,
    private readonly log: Logger,
  ) {
    this.members = upstreamsOf(service).map((url) => new Member(url));
  }

  get size(): number {
    return this.members.length;
  }

  states(): UpstreamState[] {
    return this.members.map((m) => ({
      url: m.url,
      healthy: m.healthy,
      reportedLoad: m.reportedLoad,
      slots: m.slots,
      inFlight: m.inFlight,
    }));
  }

  /** URLs of the upstreams in service (all of them when none is). */
  liveUrls(): string[] {
    const healthy = this.members.filter((m) => m.healthy);
    return (healthy.length > 0 ? healthy : this.members).map((m) => m.url);
  }

  /**
   * The upstream for the next attempt: the healthy one with the lowest load, ties taken in turn; an ejected one
   * only when no healthy one is left. Undefined when every upstream is in `exclude`.
   */
  pick(exclude?: ReadonlySet<string>): string | undefined {
    if (this.members.length === 1) {
      const only = this.members[0] as Member;
      return exclude?.has(only.url) ? undefined : only.url;
    }
    const candidates = exclude ? this.members.filter((m) => !exclude.has(m.url)) : this.members;
    const healthy = candidates.filter((m) => m.healthy);
    const pool = healthy.length > 0 ? healthy : candidates;
    if (pool.length === 0) return undefined;
    this.turn = (this.turn + 1) % pool.length;
    let best: Member | undefined;
    for (let i = 0; i < pool.length; i++) {
      const member = pool[(this.turn + i) % pool.length];
      if (member && (!best || member.score < best.score)) best = member;
    }
    return best?.url;
  }

  /** Counts a request in flight on `url` until the returned function is called. */
  begin(url: string): () => void {
    const member = this.members.find((m) => m.url === url);
    if (!member) return () => {};
    member.inFlight += 1;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      member.inFlight -= 1;
    };
  }

  /** A request could not reach `url`: counts toward ejection like a failed health check. */
  reportFailure(url: string, reason: string): void {
    const member = this.members.find((m) => m.url === url);
    if (member) this.failed(member, reason);
  }

  private failed(member: Member, reason: string): void {
    member.failures += 1;
    if (member.healthy && member.failures >= this.service.upstreamPool.ejectAfterFailures) {
      member.healthy = false;
      this.log.warn({ service: this.service.name, upstream: member.url, reason }, "upstream ejected");
    }
  }

  private succeeded(member: Member): void {
    member.failures = 0;
    if (!member.healthy) {
      member.healthy = true;
      this.log.info({ service: this.service.name, upstream: member.url }, "upstream back in the pool");
    }
  }

  /** Reads every upstream's health endpoint once. */
  async check(): Promise<void> {
    await Promise.all(this.members.map((member) => this.checkOne(member)));
  }

  private async checkOne(member: Member): Promise<void> {
    try {
      const response = await fetch(upstreamUrl(member.url, this.service.healthPath), {
        signal: AbortSignal.timeout(this.service.upstreamPool.healthTimeoutMs),
      });
      const body: unknown = await response.json().catch(() => undefined);
      if (response.status >= 500) {
        this.failed(member, `health answered ${response.status}`);
        return;
      }
      const load = upstreamLoadSchema.safeParse(body);
      if (load.success) {
        member.reportedLoad = load.data.busy_sequences + load.data.queue_depth;
        member.slots = Math.max(load.data.slots_total, 1);
      }
      this.succeeded(member);
    } catch (error) {
      this.failed(member, (error as Error).message);
    }
  }

  /** Health checks run only for a real pool: one upstream is always tried, healthy or not. */
  start(): void {
    if (this.timer || this.members.length < 2) return;
    this.timer = setInterval(() => void this.check(), this.service.upstreamPool.healthIntervalMs);
    this.timer.unref();
    void this.check();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** One pool per service. */
export class UpstreamPools {
  private readonly pools = new Map<string, UpstreamPool>();

  constructor(services: readonly ServiceConfig[], log: Logger) {
    for (const service of services) this.pools.set(service.name, new UpstreamPool(service, log));
  }

  of(service: string): UpstreamPool {
    const pool = this.pools.get(service);
    if (!pool) throw new Error(`no upstream pool for service ${service}`);
    return pool;
  }

  start(): void {
    for (const pool of this.pools.values()) pool.start();
  }

  stop(): void {
    for (const pool of this.pools.values()) pool.stop();
  }
}
