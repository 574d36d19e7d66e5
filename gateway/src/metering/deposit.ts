import type { IncomingHttpHeaders } from "node:http";
import { CodedError, DEPOSIT_HEADER } from "@l402-gateway/l402";
import type { PricingConfig } from "../config/pricing-schema.js";

/** The header an agent sends to prepay more than one call: the balance it wants, in msat. */
export { DEPOSIT_HEADER };

/** A deposit header that is not a whole number of msat within the owner's bounds (refusals/answers.ts: 400). */
export class DepositError extends CodedError<"invalid_deposit"> {
  override readonly name = "DepositError";

  constructor(message: string) {
    super("invalid_deposit", message);
  }
}

/** The deposit asked for, checked against the owner's bounds; undefined when the header is absent. */
export function requestedDeposit(headers: IncomingHttpHeaders, pricing: PricingConfig): number | undefined {
  const raw = headers[DEPOSIT_HEADER];
  if (raw === undefined) return undefined;
  const text = Array.isArray(raw) ? raw.join(",") : raw;
  if (!/^\d{1,16}$/.test(text.trim())) {
    throw new DepositError(`${DEPOSIT_HEADER} must be a whole number of msat`);
  }
  const msat = Number(text.trim());
  const { minMsat, maxMsat } = pricing.deposit;
  if (msat < minMsat || msat > maxMsat) {
    throw new DepositError(`${DEPOSIT_HEADER} must be between ${minMsat} and ${maxMsat} msat (got ${msat})`);
  }
  return msat;
}
