import type { PriceChangeCode } from "./price-file.js";

/** A change that names no such service or rule is 404, an invalid one 400, one the file or prices outran 409. */
export const PRICE_CHANGE_STATUS: Readonly<Record<PriceChangeCode, number>> = {
  unknown_service: 404,
  unknown_rule: 404,
  invalid_pricing: 400,
  prices_changed: 409,
  file_differs: 409,
  config_changed: 409,
  config_unreadable: 409,
  rule_not_in_file: 409,
  config_not_writable: 409,
};
