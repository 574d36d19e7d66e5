import { preimageCaveat } from "@l402-gateway/l402";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/load.js";
import { carriedCaveats, issuerCaveatCount, tokenCaveats } from "./caveats.js";

const service = (capabilities: string[]) =>
  parseConfig({
    lnd: { socket: "127.0.0.1:1", cert: "x", macaroon: "x" },
    store: { path: ":memory:" },
    services: [
      { name: "llm", match: { pathPrefix: "/v1/" }, upstream: "http://127.0.0.1:1", price: { sats: 1 }, capabilities },
    ],
  }).services[0] ?? (undefined as never);

const validUntil = new Date("2030-01-01T00:00:00Z");

describe("the gateway's caveat layout", () => {
  it("counts exactly the caveats it writes, with and without capabilities", () => {
    for (const capabilities of [[], ["chat", "completions"]]) {
      const minted = tokenCaveats(service(capabilities), validUntil);
      expect(issuerCaveatCount(minted, "llm")).toBe(minted.length);
      expect(issuerCaveatCount([...minted, "llm_capabilities=chat", "llm_valid_until=1"], "llm")).toBe(minted.length);
    }
  });

  it("counts a capabilities caveat appended after an old token's valid_until as the holder's", () => {
    const old = tokenCaveats(service([]), validUntil);
    expect(old).toEqual(["services=llm:0", "llm_valid_until=1893456000"]);
    expect(issuerCaveatCount([...old, "llm_capabilities=chat,completions"], "llm")).toBe(2);
  });

  it("counts nothing as the issuer's in a token that does not start the way this gateway writes", () => {
    expect(issuerCaveatCount([], "llm")).toBe(0);
    expect(issuerCaveatCount(["services=llm:0"], "llm")).toBe(0);
    expect(issuerCaveatCount(["llm_capabilities=chat", "services=llm:0", "llm_valid_until=1"], "llm")).toBe(0);
    expect(issuerCaveatCount(["services=llm:0", "llm_capabilities=chat", "services=llm:0"], "llm")).toBe(0);
    expect(issuerCaveatCount(["services=img:0", "img_valid_until=1"], "llm")).toBe(0);
  });

  it("carries every caveat of a presented credential in order, except its preimage caveats", () => {
    const presented = [
      ...tokenCaveats(service(["chat", "completions"]), validUntil),
      preimageCaveat(Buffer.alloc(32, 1)),
      "llm_capabilities=chat",
      "llm_valid_until=1800000000",
      preimageCaveat(Buffer.alloc(32, 1)),
    ];
    expect(carriedCaveats(presented)).toEqual([
      "services=llm:0",
      "llm_capabilities=chat,completions",
      "llm_valid_until=1893456000",
      "llm_capabilities=chat",
      "llm_valid_until=1800000000",
    ]);
  });
});
