import type { Logger } from "pino";
import type { SurgeConfig } from "../config/pricing-schema.js";
import type { LoadSource } from "../upstream/kinds.js";
import { combinedLoad } from "../upstream/load.js";
import { MULTIPLIER_SCALE } from "./quote.js";

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
 * Follows the live load of a service's upstreams (busy sequences plus queued requests, over all their sequences,
 * from each one's health endpoint: the pool's combined load) and turns it into a smoothed price multiplier between
 * 1× and the ceiling. Only new quotes read it.
 */
export class SurgeMonitor {
  private smoothed = 1;
  private timer: NodeJS.Timeout | undefined;
  private lastLoad = 0;

  /**
   * @param upstreams the upstream, or the pool's upstreams in service now.
   * @param source where the upstreams' kind reports its load (see kinds.ts).
   */
  constructor(
    private readonly upstreams: string | (() => readonly string[]),
    private config: SurgeConfig,
    private readonly log: Logger,
    private readonly onChange: (multiplier: number) => void = () => {},
    private readonly source: LoadSource = "backend-health",
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

  /** Reads the upstreams' combined load once and moves the smoothed multiplier toward the curve's value. */
  async poll(): Promise<void> {
    const urls = typeof this.upstreams === "string" ? [this.upstreams] : this.upstreams();
    const { healthPath, slotsPerUpstream } = this.config;
    const load = await combinedLoad(
      urls,
      this.source,
      { healthPath, slotsPerUpstream, timeoutMs: Math.max(this.config.pollIntervalMs, 500) },
      (upstream, error) => this.log.debug({ err: error.message, upstream }, "surge: could not read upstream load"),
    );
    // Upstreams we cannot read keep the last multiplier: readiness and the pool's health checks report them.
    if (load !== undefined) this.observe(load);
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
