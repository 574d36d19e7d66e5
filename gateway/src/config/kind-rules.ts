import { profileOf, type UpstreamKind } from "../upstream/kinds.js";
import type { PricingConfig } from "./pricing-schema.js";

export interface KindProblem {
  /** Where in the pricing the problem is. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/**
 * What a service's upstream kind cannot do with a pricing, each with the reason: checked at config load, and on
 * every change of the live prices (admin API, console), which must hold to the same rules.
 */
export function upstreamKindProblems(
  service: { readonly name: string; readonly upstreamKind: UpstreamKind; readonly upstreamReportsUsage: boolean },
  pricing: PricingConfig,
): KindProblem[] {
  const problems: KindProblem[] = [];
  const profile = profileOf(service.upstreamKind);
  if (!service.upstreamReportsUsage) {
    for (const [i, rule] of pricing.rules.entries()) {
      if (!rule.tokens) continue;
      problems.push({
        path: ["rules", i, "tokens"],
        message:
          `service "${service.name}": a per-token rule charges the usage the upstream reports, and this upstream ` +
          "reports none (upstreamReportsUsage: false): every call would be charged its whole reservation. Give the " +
          "rule a perCallMsat instead",
      });
    }
  }
  if (!profile.lengthFields.includes(pricing.chatLengthField)) {
    problems.push({
      path: ["chatLengthField"],
      message:
        `a ${service.upstreamKind} upstream does not obey ${pricing.chatLengthField} as the completion limit; use ` +
        profile.lengthFields.join(" or "),
    });
  }
  if (pricing.surge && profile.load === "vllm-metrics" && pricing.surge.slotsPerUpstream === undefined) {
    problems.push({
      path: ["surge", "slotsPerUpstream"],
      message:
        "vLLM's /metrics reports running and waiting requests but not how many it runs at once: set " +
        "slotsPerUpstream to its --max-num-seqs",
    });
  }
  return problems;
}
