import type { PriceRule, PricingConfig } from "./schema.js";

/** The first rule whose path prefix and model fit the request; undefined when none does. */
export function matchRule(pricing: PricingConfig, path: string, model: string | undefined): PriceRule | undefined {
  return pricing.rules.find(
    (rule) =>
      (rule.pathPrefix === undefined || path.startsWith(rule.pathPrefix)) &&
      (rule.model === undefined || rule.model === model),
  );
}
