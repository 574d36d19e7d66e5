import type { OwnerReports } from "../store/owner-reports.js";
import type { GatewayMetrics } from "./metrics.js";

const HOUR_MS = 3_600_000;

interface CounterLike {
  get(): Promise<{ values: { labels: object; value: number }[] }>;
}

/** A counter's values summed by its `service` label. */
export async function sumByService(counter: CounterLike): Promise<Map<string, number>> {
  const sums = new Map<string, number>();
  for (const { labels, value } of (await counter.get()).values) {
    const service = (labels as { service?: unknown }).service;
    if (typeof service === "string") sums.set(service, (sums.get(service) ?? 0) + value);
  }
  return sums;
}

/**
 * Makes challenges and paid calls durable without touching the request path: every `intervalMs` it reads this
 * process's counters (l402_challenges_issued_total, l402_paid_requests_total), and adds what they grew by since the
 * last flush to the store's hourly counter row of each service (one upsert per service and flush). The increments are
 * filed under the hour of the flush, so an hour's figures may include up to `intervalMs` of the previous one. Each
 * worker and replica adds its own increments to the same rows. A crash loses at most one interval's counts.
 */
export class TrafficRecorder {
  private readonly flushed = { challenges: new Map<string, number>(), calls: new Map<string, number>() };
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly metrics: Pick<GatewayMetrics, "challengesIssued" | "paidRequests">,
    private readonly store: Pick<OwnerReports, "addTraffic">,
    private readonly log: { warn(details: object, message: string): void },
    private readonly intervalMs = 60_000,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  /** Writes what the counters grew by since the last flush; flushes run one at a time. */
  flush(now = new Date()): Promise<void> {
    this.running = this.running.then(() => this.write(now));
    return this.running;
  }

  /** Stops the timer and writes the last increments. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private async write(now: Date): Promise<void> {
    const [challenges, calls] = await Promise.all([
      sumByService(this.metrics.challengesIssued),
      sumByService(this.metrics.paidRequests),
    ]);
    const hourStart = new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS);
    const delta = (current: Map<string, number>, seen: Map<string, number>, service: string) =>
      (current.get(service) ?? 0) - (seen.get(service) ?? 0);
    const counts = [...new Set([...challenges.keys(), ...calls.keys()])]
      .map((service) => ({
        service,
        hourStart,
        challenges: delta(challenges, this.flushed.challenges, service),
        calls: delta(calls, this.flushed.calls, service),
      }))
      .filter((count) => count.challenges > 0 || count.calls > 0);
    if (counts.length === 0) return;
    try {
      await this.store.addTraffic(counts);
      this.flushed.challenges = challenges;
      this.flushed.calls = calls;
    } catch (error) {
      // Kept for the next flush: the counters still hold them.
      this.log.warn({ err: (error as Error).message }, "could not record challenges and calls in the store");
    }
  }
}
