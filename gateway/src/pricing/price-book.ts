import type { Logger } from "pino";
import type { PricingConfig } from "../config/pricing-schema.js";
import type { ServiceConfig } from "../config/schema.js";
import { upstreamsOf } from "../config/upstreams.js";
import type { GatewayMetrics } from "../metrics/metrics.js";
import { profileOf, type UpstreamKind } from "../upstream/kinds.js";
import { MULTIPLIER_SCALE } from "./quote.js";
import { SurgeMonitor } from "./surge.js";

/**
 * The live prices of the metered services. The admin API and config reloads change them here; each change is
 * logged with its old and new value. Quotes read the current prices, so a change applies to the next quote only.
 */
const upstreamsOfService = (service: ServiceConfig | undefined): string[] => (service ? upstreamsOf(service) : []);

export class PriceBook {
  private readonly live = new Map<string, PricingConfig>();
  private readonly surges = new Map<string, SurgeMonitor>();
  private readonly kinds = new Map<string, UpstreamKind>();
  private readonly listeners: ((service: string, next: PricingConfig, source: "admin" | "reload") => void)[] = [];

  /** @param upstreamsOf the upstreams in service of a service now (its pool), whose combined load drives surge. */
  constructor(
    services: readonly ServiceConfig[],
    private readonly log: Logger,
    private readonly metrics: GatewayMetrics,
    private readonly upstreamsOf: (service: string) => readonly string[] = (name) =>
      upstreamsOfService(services.find((s) => s.name === name)),
  ) {
    for (const service of services) {
      this.kinds.set(service.name, service.upstreamKind);
      if (!service.pricing) continue;
      this.live.set(service.name, service.pricing);
      this.addSurge(service.name, service.pricing);
    }
    this.publish();
  }

  /** Follows the service's load when its pricing has surge and its upstream kind reports load; logs why not. */
  private addSurge(service: string, pricing: PricingConfig): SurgeMonitor | undefined {
    const surge = pricing.surge;
    if (!surge) return undefined;
    const profile = profileOf(this.kinds.get(service) ?? "l402-llm-backend");
    if (profile.load === "none") {
      this.log.warn({ service }, `surge pricing off: ${profile.noLoadReason ?? "this upstream reports no load"}`);
      return undefined;
    }
    const monitor = new SurgeMonitor(
      () => this.upstreamsOf(service),
      surge,
      this.log,
      (multiplier) => {
        this.metrics.surgeMultiplier.set({ service }, multiplier);
        this.log.info({ service, multiplier: Number(multiplier.toFixed(3)) }, "surge multiplier changed");
      },
      profile.load,
    );
    this.surges.set(service, monitor);
    return monitor;
  }

  /** The services whose prices this book holds. */
  services(): string[] {
    return [...this.live.keys()];
  }

  pricing(service: string): PricingConfig | undefined {
    return this.live.get(service);
  }

  /** Surge multiplier × 1000 for new quotes of a service (1000 when it has no surge pricing). */
  multiplierMilli(service: string): number {
    return this.surges.get(service)?.multiplierMilli ?? MULTIPLIER_SCALE;
  }

  surgeMonitor(service: string): SurgeMonitor | undefined {
    return this.surges.get(service);
  }

  /** Replaces a metered service's pricing; returns false for a service that is not metered. */
  update(service: ServiceConfig, next: PricingConfig, source: "admin" | "reload"): boolean {
    const previous = this.live.get(service.name);
    if (!previous) return false;
    if (JSON.stringify(previous) === JSON.stringify(next)) return true;
    this.live.set(service.name, next);
    this.log.info({ service: service.name, source, old: previous, new: next }, "prices changed");
    this.publish();
    for (const listener of this.listeners) listener(service.name, next, source);
    const monitor = this.surges.get(service.name);
    if (next.surge && monitor) monitor.reconfigure(next.surge);
    else if (next.surge) this.addSurge(service.name, next)?.start();
    else if (monitor) {
      monitor.stop();
      this.surges.delete(service.name);
      this.metrics.surgeMultiplier.set({ service: service.name }, 1);
    }
    return true;
  }

  /** Calls `listener` after each change (several workers relay the admin API's changes to each other). */
  onChange(listener: (service: string, next: PricingConfig, source: "admin" | "reload") => void): void {
    this.listeners.push(listener);
  }

  private publish(): void {
    this.metrics.priceMsat.reset();
    for (const [service, config] of this.live.entries()) {
      for (const [index, rule] of config.rules.entries()) {
        const labels = { service, rule: String(index) };
        const set = (component: string, msat: number) => this.metrics.priceMsat.set({ ...labels, component }, msat);
        if (rule.perCallMsat !== undefined) set("per_call", rule.perCallMsat);
        if (rule.tokens) {
          set("prompt_token", rule.tokens.promptMsatPerToken);
          set("completion_token", rule.tokens.completionMsatPerToken);
        }
        if (rule.feeMsat !== undefined) set("fee", rule.feeMsat);
      }
    }
  }

  start(): void {
    for (const monitor of this.surges.values()) monitor.start();
  }

  stop(): void {
    for (const monitor of this.surges.values()) monitor.stop();
  }
}
