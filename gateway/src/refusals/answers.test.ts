import { CodedError } from "@l402-gateway/l402";
import { describe, expect, it } from "vitest";
import { InvalidTargetError } from "../http/canonical-target.js";
import { BodyTooLargeError } from "../http/read-body.js";
import { LightningUnavailableError } from "../lightning/invoices.js";
import { LlmRequestError } from "../llm/llm-request.js";
import { DepositError } from "../metering/deposit.js";
import { QuoteError } from "../pricing/pricer.js";
import type { CloseRefusal } from "../refunds/refunds.js";
import { StoreUnavailableError } from "../store/errors.js";
import { answerFor, closeRefused } from "./answers.js";

describe("the refusal map", () => {
  it("answers each typed error with its status, code and headers, and knows nothing else", () => {
    expect(answerFor(new InvalidTargetError("bad"))).toMatchObject({ status: 400, code: "invalid_path" });
    expect(answerFor(new BodyTooLargeError("big"))).toEqual({ status: 413, code: "body_too_large", message: "big" });
    expect(answerFor(new LlmRequestError("unsupported_charset", "utf-8 only"))).toMatchObject({
      status: 415,
      code: "unsupported_charset",
    });
    expect(answerFor(new QuoteError("pricing_unavailable", "down"))).toMatchObject({ status: 503 });
    expect(answerFor(new QuoteError("no_price", "none"))).toMatchObject({ status: 400, code: "no_price" });
    expect(answerFor(new LlmRequestError("invalid_json", "not JSON"))).toMatchObject({ status: 400 });
    expect(answerFor(new LightningUnavailableError("down"))).toMatchObject({
      status: 503,
      code: "lightning_unavailable",
      headers: { "retry-after": "5" },
      degraded: true,
    });
    expect(answerFor(new Error("a bug"))).toBeUndefined();
  });

  it("answers the gateway's coded errors with their own code: one error shape, mapped to HTTP only here", () => {
    const errors = [
      new InvalidTargetError("bad"),
      new BodyTooLargeError("big"),
      new DepositError("not a number"),
      new LightningUnavailableError("down"),
      new StoreUnavailableError("down"),
    ];
    for (const error of errors) {
      expect(error).toBeInstanceOf(CodedError);
      expect(answerFor(error)?.code).toBe(error.code);
    }
    expect(answerFor(new DepositError("not a number"))).toMatchObject({ status: 400, code: "invalid_deposit" });
  });

  it("answers every close refusal, a rate limit with its Retry-After", () => {
    const cases: [CloseRefusal, number, string][] = [
      [{ reason: "invalid_invoice", detail: "wrong network" }, 400, "invalid_refund_invoice"],
      [{ reason: "rate_limited", retryAfterSeconds: 7 }, 429, "rate_limited"],
      [{ reason: "not_found" }, 404, "not_found"],
      [{ reason: "not_refundable" }, 409, "not_refundable"],
      [{ reason: "busy" }, 409, "request_in_flight"],
      [{ reason: "over_cap", maxSats: 50 }, 422, "refund_over_cap"],
    ];
    for (const [refusal, status, code] of cases) expect(closeRefused(refusal)).toMatchObject({ status, code });
    expect(closeRefused({ reason: "rate_limited", retryAfterSeconds: 7 }).headers).toEqual({ "retry-after": "7" });
    expect(closeRefused({ reason: "invalid_invoice", detail: "wrong network" }).message).toBe("wrong network");
    expect(closeRefused({ reason: "over_cap", maxSats: 50 }).message).toContain("50 sats");
  });
});
