import { describe, expect, it } from "vitest";
import { RateLimiter } from "./rate-limiter.js";

describe("challenge rate limiter", () => {
  it("allows a burst, then refuses with the seconds to wait, then refills", () => {
    let now = 0;
    const limiter = new RateLimiter(6, 2, () => now); // one token per 10 s
    expect(limiter.take("a")).toBe(0);
    expect(limiter.take("a")).toBe(0);
    expect(limiter.take("a")).toBe(10);
    expect(limiter.take("b")).toBe(0);
    now += 5_000;
    expect(limiter.take("a")).toBe(5);
    now += 5_000;
    expect(limiter.take("a")).toBe(0);
  });
});
