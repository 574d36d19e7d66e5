import type { PriceRule, PricingConfig } from "../config/pricing-schema.js";
import { patternKey } from "../http/canonical-target.js";

/** The first rule whose path prefix (compared with the canonical path key) and model fit; undefined when none does. */
export function matchRule(pricing: PricingConfig, pathKey: string, model: string | undefined): PriceRule | undefined {
  return pricing.rules.find(
    (rule) =>
      (rule.pathPrefix === undefined || pathKey.startsWith(patternKey(rule.pathPrefix))) &&
      (rule.model === undefined || rule.model === model),
  );
}
