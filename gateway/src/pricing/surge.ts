import type { Logger } from "pino";
import { z } from "zod";
import { MULTIPLIER_SCALE } from "./quote.js";
import type { SurgeConfig } from "./schema.js";

const upstreamLoadSchema = z.looseObject({
  busy_sequences: z.number().min(0),
  queue_depth: z.number().min(0),
  slots_total: z.number().min(0),
});

/** The curve's multiplier at a load: 1× before the first point, linear between points, flat after the last. */
export function curveMultiplier(curve: SurgeConfig["curve"], load: number): number {
  const first = curve[0];
  if (!first || load <= first.load) return first && load === first.load ? first.multiplier : 1;
  for (let i = 1; i < curve.length; i++) {
    const lo = curve[i - 1];
    const hi = curve[i];
    if (lo && hi && load <= hi.load)
      return lo.multiplier + ((hi.multiplier - lo.multiplier) * (load - lo.load)) / (hi.load - lo.load);
  }
  return curve[curve.length - 1]?.multiplier ?? 1;
}

/**
 * Follows an upstream's live load (busy sequences plus queued requests per sequence, from its health endpoint) and
 * turns it into a smoothed price multiplier between 1× and the ceiling. Only new quotes read it.
 */
export class SurgeMonitor {
  private smoothed = 1;
  private timer: NodeJS.Timeout | undefined;
  private lastLoad = 0;

  constructor(
    private readonly upstream: string,
    private config: SurgeConfig,
    private readonly log: Logger,
    private readonly onChange: (multiplier: number) => void = () => {},
  ) {}

  /** The multiplier in thousandths, as quotes use it. */
  get multiplierMilli(): number {
    return Math.max(MULTIPLIER_SCALE, Math.round(this.smoothed * MULTIPLIER_SCALE));
  }

  get load(): number {
    return this.lastLoad;
  }

  reconfigure(config: SurgeConfig): void {
    const restart = config.pollIntervalMs !== this.config.pollIntervalMs && this.timer !== undefined;
    this.config = config;
    if (restart) {
      this.stop();
      this.start();
    }
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.poll(), this.config.pollIntervalMs);
    this.timer.unref();
    void this.poll();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the upstream's load once and moves the smoothed multiplier toward the curve's value. */
  async poll(): Promise<void> {
    try {
      const base = new URL(this.upstream);
      const url = `${base.origin}${base.pathname.replace(/\/+$/, "")}${this.config.healthPath}`;
      const response = await fetch(url, { signal: AbortSignal.timeout(Math.max(this.config.pollIntervalMs, 500)) });
      const load = upstreamLoadSchema.parse(await response.json());
      this.observe((load.busy_sequences + load.queue_depth) / Math.max(load.slots_total, 1));
    } catch (error) {
      // An upstream we cannot read keeps the last multiplier: readiness reports the upstream itself.
      this.log.debug({ err: (error as Error).message }, "surge: could not read upstream load");
    }
  }

  /** Feeds one load reading (exposed for tests of the curve and smoothing). */
  observe(load: number): void {
    this.lastLoad = load;
    const target = Math.min(Math.max(curveMultiplier(this.config.curve, load), 1), this.config.ceiling);
    const next = this.smoothed + this.config.smoothing * (target - this.smoothed);
    // Settle exactly on the target once within half a thousandth, so an idle service returns to exactly 1×.
    const settled = Math.abs(next - target) < 0.0005 ? target : next;
    if (Math.round(settled * MULTIPLIER_SCALE) !== Math.round(this.smoothed * MULTIPLIER_SCALE)) this.onChange(settled);
    this.smoothed = settled;
  }
}
