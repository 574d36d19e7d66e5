import { describe, expect, it } from "vitest";
import { ejectsUpstream, mayRetryAttempt, upstreamErrorClass } from "./retry.js";

describe("upstream retry policy", () => {
  it("classes failed attempts for the metric, and answers from the upstream by their status", () => {
    expect(upstreamErrorClass({ ok: false, code: "upstream_unreachable" })).toBe("unreachable");
    expect(upstreamErrorClass({ ok: false, code: "upstream_timeout" })).toBe("timeout");
    expect(upstreamErrorClass({ ok: false, code: "client_closed" })).toBe("aborted");
    expect(upstreamErrorClass({ ok: false, code: "body_too_large" })).toBeUndefined();
    expect(upstreamErrorClass({ ok: true, status: 503 })).toBe("http_5xx");
    expect(upstreamErrorClass({ ok: true, status: 404 })).toBeUndefined();
  });

  it("counts only an upstream that never answered toward its ejection", () => {
    expect(ejectsUpstream("unreachable")).toBe(true);
    expect(ejectsUpstream("timeout")).toBe(true);
    expect(ejectsUpstream("aborted")).toBe(false);
    expect(ejectsUpstream("http_5xx")).toBe(false);
    expect(ejectsUpstream(undefined)).toBe(false);
  });

  it("retries once, only a request it can send again, only when there is another upstream", () => {
    expect(mayRetryAttempt(1, true, 2)).toBe(true);
    expect(mayRetryAttempt(2, true, 2)).toBe(false);
    expect(mayRetryAttempt(1, false, 2)).toBe(false);
    expect(mayRetryAttempt(1, true, 1)).toBe(false);
  });
});
