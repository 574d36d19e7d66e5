/// <reference path="../agent-client/src/types/invoices.d.ts" />

import { request as httpRequest } from "node:http";
import type { RunningGateway } from "@l402-gateway/gateway";
import { decodeBase64Url, decodeMacaroon, parsePaymentChallenges } from "@l402-gateway/l402";
import invoices from "invoices";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway } from "./agent-client/support.js";
import { startUpstream, type TestUpstream } from "./support/upstream.js";

/**
 * Aperture v0.5.0's client rule for L402 challenges (l402/client_interceptor.go, payL402Token): the first
 * WWW-Authenticate line matching `(LSAT|L402) macaroon="(.*?)", invoice="(.*?)"`, the macaroon decoded as standard
 * base64 (Go's StdEncoding: padding required, no URL-safe alphabet), the invoice as BOLT11 of the node's network.
 */
function apertureL402(lines: readonly string[]): { macaroon: Buffer; invoice: string } | undefined {
  for (const line of lines) {
    const match = /(LSAT|L402) macaroon="(.*?)", invoice="(.*?)"/.exec(line);
    if (!match) continue;
    const [, , macaroon = "", invoice = ""] = match;
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(macaroon)) return undefined;
    return { macaroon: Buffer.from(macaroon, "base64"), invoice };
  }
  return undefined;
}

/**
 * Aperture v0.5.0's Payment challenge parser (mpp/header.go, ParseChallengeHeader and parseAuthParams): the line
 * must start with `Payment ` (case-sensitive); params split at `=`, a quoted value ends at the next `"` (no
 * quoted-pair), a token at the next `,`; names kept as written; the five required params must be present.
 */
function aperturePayment(line: string): Record<string, string> | undefined {
  if (!line.startsWith("Payment ")) return undefined;
  let rest = line.slice("Payment ".length).trim();
  const params: Record<string, string> = {};
  while (rest !== "") {
    const eq = rest.indexOf("=");
    if (eq < 0) break;
    const key = rest.slice(0, eq).trim();
    rest = rest.slice(eq + 1).trim();
    let value: string;
    if (rest.startsWith('"')) {
      const end = rest.indexOf('"', 1);
      value = end < 0 ? rest.slice(1) : rest.slice(1, end);
      rest = end < 0 ? "" : rest.slice(end + 1);
    } else {
      const comma = rest.indexOf(",");
      value = (comma < 0 ? rest : rest.slice(0, comma)).trim();
      rest = comma < 0 ? "" : rest.slice(comma);
    }
    params[key] = value;
    rest = rest.trim();
    if (rest.startsWith(",")) rest = rest.slice(1).trim();
  }
  for (const name of ["id", "realm", "method", "intent", "request"]) if (!(name in params)) return undefined;
  return params;
}

/** Aperture decodes `request` into Go structs whose fields are all strings: a number would fail json.Unmarshal. */
function allStrings(value: unknown): boolean {
  if (typeof value === "string") return true;
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  return Object.values(value).every(allStrings);
}

/** The 402's WWW-Authenticate lines as sent (fetch would join them), its content type and cache control. */
function raw402(url: string): Promise<{ status: number; lines: string[]; contentType: string; cache: string }> {
  return new Promise((resolveRaw, reject) => {
    const req = httpRequest(url, { method: "GET" }, (res) => {
      res.resume();
      const lines: string[] = [];
      for (let i = 0; i < res.rawHeaders.length; i += 2) {
        if (res.rawHeaders[i]?.toLowerCase() === "www-authenticate") lines.push(res.rawHeaders[i + 1] ?? "");
      }
      resolveRaw({
        status: res.statusCode ?? 0,
        lines,
        contentType: String(res.headers["content-type"] ?? ""),
        cache: String(res.headers["cache-control"] ?? ""),
      });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("challenges our gateway emits parse with Aperture v0.5.0's rules (regtest)", () => {
  let upstream: TestUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startUpstream();
    gateway = await startTestGateway(upstream.url, {
      services: [
        {
          name: "weather",
          match: { pathPrefix: "/weather/" },
          upstream: upstream.url,
          price: { sats: 5 },
          schemes: ["l402", "payment-charge"],
        },
        {
          name: "echo",
          match: { pathPrefix: "/v1/echo" },
          upstream: upstream.url,
          pricing: { rules: [{ perCallMsat: 2_000 }] },
          schemes: ["l402", "payment-session"],
        },
      ],
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  for (const [path, intent] of [
    ["/weather/today", "charge"],
    ["/v1/echo", "session"],
  ] as const) {
    it(`${path}: the L402 lines and the Payment ${intent} line, in Aperture's order and form`, async () => {
      const answer = await raw402(`${gateway.url}${path}`);
      expect(answer.status).toBe(402);
      expect(answer.cache).toBe("no-store");
      // LSAT and L402 before Payment, as Aperture sends them; a Payment offer makes the body problem+json.
      expect(answer.lines.map((line) => line.split(" ")[0])).toEqual(["LSAT", "L402", "Payment"]);
      expect(answer.contentType).toContain("application/problem+json");

      const l402 = apertureL402(answer.lines);
      expect(l402).toBeDefined();
      expect(() => decodeMacaroon(l402?.macaroon.toString("base64") ?? "")).not.toThrow();
      expect(invoices.parsePaymentRequest({ request: l402?.invoice ?? "" }).network).toBe("regtest");

      const line = answer.lines[2] ?? "";
      const params = aperturePayment(line);
      expect(params).toMatchObject({ method: "lightning", intent });
      // Aperture reads the same values as our RFC 9110 parser: nothing in them needs a quoted-pair.
      const [ours] = parsePaymentChallenges(line);
      for (const name of ["id", "realm", "method", "intent", "request", "expires"] as const) {
        expect(params?.[name]).toBe(ours?.[name]);
      }
      const request: unknown = JSON.parse(decodeBase64Url(params?.request ?? "").toString("utf8"));
      expect(allStrings(request)).toBe(true);
      // Aperture's time.Parse(time.RFC3339, …) reads whole seconds with Z.
      expect(params?.expires).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    });
  }

  it("the ported rules refuse what Aperture refuses, so the checks above can fail", () => {
    expect(apertureL402(['L402 token="AgE=", macaroon="AgE=", invoice="lnbcrt1"'])).toBeUndefined();
    expect(apertureL402(['L402 macaroon="AgE-_w==", invoice="lnbcrt1"'])).toBeUndefined();
    expect(aperturePayment('payment id="a", realm="r", method="lightning", intent="charge", request="e30"')).toBe(
      undefined,
    );
    expect(aperturePayment('Payment id="a", realm="r", method="lightning", intent="charge"')).toBeUndefined();
    // A quoted-pair breaks Aperture's parser (it ends the value at the escaped quote): never emit one.
    expect(aperturePayment('Payment id="a\\"b", realm="r", method="m", intent="i", request="x"')).toBeUndefined();
    expect(allStrings({ amount: 5 })).toBe(false);
  });
});
