import { randomBytes } from "node:crypto";
import { preimageCaveat } from "@l402-gateway/l402";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/load.js";
import { carriedCaveats, tokenCaveats } from "./caveats.js";
import { closeAuthority, signatureSha256 } from "./close-authority.js";

const service = (capabilities: string[]) =>
  parseConfig({
    lnd: { socket: "127.0.0.1:1", cert: "x", macaroon: "x" },
    store: { path: ":memory:" },
    services: [
      { name: "llm", match: { pathPrefix: "/v1/" }, upstream: "http://127.0.0.1:1", price: { sats: 1 }, capabilities },
    ],
  }).services[0] ?? (undefined as never);

const validUntil = new Date("2030-01-01T00:00:00Z");
const l402 = { scheme: "l402", service: "llm" } as const;

describe("who may close an account", () => {
  it("lets the credential as the gateway minted it close, with or without capabilities", () => {
    for (const capabilities of [[], ["chat", "completions"]]) {
      expect(closeAuthority(tokenCaveats(service(capabilities), validUntil), l402)).toEqual({ ok: true });
    }
  });

  it("lets the owner's top-up credential close: it carries the presented caveats, which were the issuer's", () => {
    const minted = tokenCaveats(service(["chat"]), validUntil);
    expect(closeAuthority(carriedCaveats([...minted, preimageCaveat(randomBytes(32))]), l402).ok).toBe(true);
  });

  it("ignores preimage caveats, which bind what the request proves anyway and narrow nothing", () => {
    const minted = tokenCaveats(service([]), validUntil);
    expect(closeAuthority([...minted, preimageCaveat(randomBytes(32))], l402).ok).toBe(true);
  });

  it("refuses every credential its holder narrowed: capabilities, validity, both, a delegate's delegate", () => {
    const minted = tokenCaveats(service(["chat", "completions"]), validUntil);
    const narrowed = [
      [...minted, "llm_capabilities=completions"],
      [...minted, "llm_valid_until=1893455000"],
      [...minted, "llm_valid_until=1"],
      [...minted, "llm_capabilities=completions", "llm_valid_until=1893455000"],
      [...minted, "llm_capabilities=chat,completions"],
      [...minted, preimageCaveat(randomBytes(32)), "llm_capabilities=chat"],
      [...minted, "services=llm:0"],
    ];
    for (const caveats of narrowed) {
      const verdict = closeAuthority(caveats, l402);
      expect(verdict.ok, caveats.join(" ")).toBe(false);
      if (!verdict.ok) expect(verdict.message).toMatch(/narrowed by its holder/);
    }
    // A token minted without capabilities, narrowed with some: still the holder's.
    const old = tokenCaveats(service([]), validUntil);
    expect(closeAuthority([...old, "llm_capabilities=chat"], l402).ok).toBe(false);
    // A narrowed top-up carries the narrowing on.
    expect(closeAuthority(carriedCaveats([...minted, "llm_capabilities=chat"]), l402).ok).toBe(false);
  });

  it("refuses a credential whose caveats do not start as this gateway writes them (fail closed)", () => {
    expect(closeAuthority([], l402).ok).toBe(false);
    expect(closeAuthority(["llm_valid_until=1893456000"], l402).ok).toBe(false);
    expect(closeAuthority(tokenCaveats(service([]), validUntil), { scheme: "l402", service: "other" }).ok).toBe(false);
  });

  it("leaves a Payment session's refund to its Payment close: no L402 credential redirects it", () => {
    const verdict = closeAuthority(tokenCaveats(service([]), validUntil), { scheme: "payment", service: "llm" });
    expect(verdict.ok).toBe(false);
    expect(closeAuthority([], { scheme: "payment", service: "llm" }).ok).toBe(false);
  });

  it("remembers a credential by the SHA-256 of its signature, not the signature", () => {
    const signature = Buffer.alloc(32, 7);
    expect(signatureSha256(signature)).toMatch(/^[0-9a-f]{64}$/);
    expect(signatureSha256(signature)).not.toBe(signature.toString("hex"));
  });
});
