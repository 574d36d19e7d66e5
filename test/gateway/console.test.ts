import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadConfigFile } from "../../gateway/src/config/load.js";
import { type RunningGateway, startGateway } from "../../gateway/src/server.js";
import { ConsoleClient } from "../support/console-client.js";
import { checkProperty } from "../support/fuzz-seed.js";
import { KnownPreimageInvoices } from "../support/known-preimage-invoices.js";
import { startUpstream, type TestUpstream } from "../support/upstream.js";

const SECRET = randomBytes(32).toString("base64url");

/** The console over HTTP on a gateway without a Lightning node; the browser test on regtest proves the rest. */
describe("console: sessions, CSRF, prices and tokens over HTTP", () => {
  let upstream: TestUpstream;
  let gateway: RunningGateway;
  let configPath: string;
  const invoices = new KnownPreimageInvoices();

  beforeAll(async () => {
    upstream = await startUpstream();
    const dir = mkdtempSync(join(tmpdir(), "gw-console-"));
    configPath = join(dir, "gateway.yaml");
    const raw = {
      listen: { port: 0 },
      operator: { port: 0 },
      admin: { port: 0, secret: SECRET },
      lnd: { socket: "127.0.0.1:1", cert: "x", macaroon: "x" },
      store: { path: join(dir, "gateway.sqlite") },
      log: { level: "silent" },
      services: [
        {
          name: "echo",
          match: { pathPrefix: "/v1/echo" },
          upstream: upstream.url,
          pricing: { rules: [{ perCallMsat: 2_000 }] },
        },
      ],
    };
    writeFileSync(configPath, `# the owner's comment stays\n${stringify(raw)}`, { mode: 0o600 });
    gateway = await startGateway(loadConfigFile(configPath), {
      backend: invoices,
      log: pino({ level: "silent" }),
      configPath,
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  const admin = () => new ConsoleClient(gateway.adminUrl ?? "");
  // Sign-in attempts are limited per address: the tests that change things share one session.
  let signedIn: ConsoleClient | undefined;
  const operator = async () => {
    if (!signedIn) {
      signedIn = admin();
      await signedIn.signIn(SECRET, "alice");
    }
    return signedIn;
  };
  /** The echo rule's editor as loaded now (its CSRF token and version), with a per-call price. */
  const editorForm = async (client: ConsoleClient, fields: Record<string, string>) => {
    const editor = await (await client.request("/console/prices/echo/rules/0")).text();
    return {
      csrf: ConsoleClient.inputValue(editor, "csrf"),
      version: ConsoleClient.inputValue(editor, "version"),
      kind: "per_call",
      ...fields,
    };
  };
  const priceMsat = async () => {
    const challenge = await fetch(`${gateway.url}/v1/echo`, { method: "POST", body: "x" });
    expect(challenge.status).toBe(402);
    return ((await challenge.json()) as { price_msat: number }).price_msat;
  };

  it("sends a visitor without a session to sign in, and refuses a change without one", async () => {
    const client = admin();
    const page = await client.request("/console/overview");
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toBe("/console/sign-in");
    const change = await client.request(`/console/tokens/${"a".repeat(64)}/revoke`, { form: { csrf: "x" } });
    expect(change.status).toBe(401);
    expect(await change.text()).toContain('data-code="no_session"');
  });

  it("signs in with the admin secret only, with a strict HttpOnly cookie, and signs out", async () => {
    const client = admin();
    expect((await client.signIn("wrong-secret")).status).toBe(401);
    const signedIn = await client.signIn(SECRET);
    expect(signedIn.status).toBe(303);
    const cookie = client.lastSetCookies.find((line) => line.startsWith("l402_console="));
    expect(cookie).toMatch(/; Path=\/console; HttpOnly; SameSite=Strict$/);
    const overview = await client.request("/console/overview");
    expect(overview.status).toBe(200);
    expect(overview.headers.get("content-security-policy")).toContain("default-src 'none'");
    const csrf = await client.csrfToken();
    expect((await client.request("/console/sign-out", { form: { csrf } })).status).toBe(303);
    expect((await client.request("/console/overview")).status).toBe(303);
  });

  it("changes a price in the config file and the next 402, and logs who changed what", async () => {
    const client = await operator();
    expect(await priceMsat()).toBe(2_000);
    const form = await editorForm(client, { perCallMsat: "5000", samplePath: "/v1/echo" });
    const preview = await client.request("/console/prices/echo/rules/0/preview", { form });
    const previewed = await preview.text();
    expect(previewed).toMatch(/data-preview="before">2,000</);
    expect(previewed).toMatch(/data-preview="after">5,000</);
    expect(await priceMsat()).toBe(2_000);
    const applied = await client.request("/console/prices/echo/rules/0", { form });
    expect(applied.status).toBe(303);
    expect(await priceMsat()).toBe(5_000);
    const file = readFileSync(configPath, "utf8");
    expect(file).toContain("# the owner's comment stays");
    expect(loadConfigFile(configPath).services[0]?.pricing?.rules[0]).toEqual({ perCallMsat: 5_000 });
    const prices = await (await client.request("/console/prices")).text();
    expect(prices).toMatch(/alice \(.*\)<\/td><td>echo #0<\/td><td><code>\{&quot;perCallMsat&quot;:2000\}/);
    // The same form again: its version is stale now, so nothing is applied twice.
    const again = await client.request("/console/prices/echo/rules/0", { form: { ...form, perCallMsat: "7000" } });
    expect(again.status).toBe(409);
    expect(await priceMsat()).toBe(5_000);
  });

  it("refuses a change when the config file was edited since the page loaded, and a rule the schema refuses", async () => {
    const client = await operator();
    const form = await editorForm(client, { perCallMsat: "6000" });
    const invalid = await client.request("/console/prices/echo/rules/0", { form: { ...form, perCallMsat: "-3" } });
    expect(invalid.status).toBe(400);
    expect(await invalid.text()).toContain("perCallMsat: a whole number of msat");
    writeFileSync(configPath, `${readFileSync(configPath, "utf8")}\n# edited by hand\n`);
    const refused = await client.request("/console/prices/echo/rules/0", { form });
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain("changed since this page was loaded");
    expect(await priceMsat()).toBe(5_000);
  });

  it("refuses a change it cannot write into the config file, and applies it nowhere", async () => {
    const client = await operator();
    const form = await editorForm(client, { perCallMsat: "8000" });
    const before = readFileSync(configPath, "utf8");
    // The console writes a temporary file beside the config file, then renames it: a folder in its place fails that.
    const blocker = `${configPath}.console-${process.pid}.tmp`;
    mkdirSync(blocker);
    try {
      const refused = await client.request("/console/prices/echo/rules/0", { form });
      expect(refused.status).toBe(409);
      expect(await refused.text()).toContain('data-code="config_not_writable"');
    } finally {
      rmdirSync(blocker);
    }
    expect(readFileSync(configPath, "utf8")).toBe(before);
    expect(await priceMsat()).toBe(5_000);
  });

  it("refuses a change without the session's CSRF token, and revokes a token with it", async () => {
    const client = await operator();
    const challenge = await fetch(`${gateway.url}/v1/echo`, {
      method: "POST",
      body: "x",
      headers: { "x-l402-deposit-msat": "20000" },
    });
    const { macaroon, payment_hash, token_id } = (await challenge.json()) as Record<string, string>;
    const { formatAuthorization } = await import("@l402-gateway/l402");
    const authorization = formatAuthorization({
      macaroons: [macaroon ?? ""],
      preimage: invoices.preimageOf(payment_hash ?? ""),
    });
    await gateway.store.markPaid(payment_hash ?? "", new Date());
    const call = () => fetch(`${gateway.url}/v1/echo`, { method: "POST", body: "x", headers: { authorization } });
    expect((await call()).status).toBe(200);
    const found = await (await client.request(`/console/tokens?q=${payment_hash}`)).text();
    expect(found).toContain(`/console/tokens/${token_id}`);
    const revoke = `/console/tokens/${token_id}/revoke`;
    const withoutToken = await client.request(revoke, { form: { csrf: "not-the-token" } });
    expect(withoutToken.status).toBe(403);
    expect((await call()).status).toBe(200);
    const revoked = await client.request(revoke, { form: { csrf: await client.csrfToken() } });
    expect(revoked.status).toBe(200);
    expect(await revoked.text()).toContain('data-figure="status">revoked<');
    const refused = await call();
    expect(refused.status).toBe(402);
    expect(((await refused.json()) as { code: string }).code).toBe("revoked");
  });

  it("answers any form posted to the rule editor with a page, never a 5xx, and changes no price", async () => {
    const client = await operator();
    const csrf = await client.csrfToken();
    const before = await priceMsat();
    const value = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.integer().map(String),
      fc.constantFrom("", "-1", "1e9", "０"),
    );
    const field = fc.constantFrom(
      "kind",
      "perCallMsat",
      "promptMsatPerToken",
      "completionMsatPerToken",
      "feeMsat",
      "minimumMsat",
      "pathPrefix",
      "model",
      "samplePath",
      "sampleMaxTokens",
      "version",
    );
    await checkProperty(
      "console rule forms",
      fc.asyncProperty(
        fc.array(fc.tuple(field, value), { maxLength: 12 }),
        fc.constantFrom("", "/preview"),
        async (pairs, action) => {
          const body = new URLSearchParams([["csrf", csrf], ...pairs]).toString();
          const res = await fetch(`${gateway.adminUrl}/console/prices/echo/rules/0${action}`, {
            method: "POST",
            headers: { cookie: client.cookieHeader, "content-type": "application/x-www-form-urlencoded" },
            body,
          });
          await res.text();
          return res.status < 500 && (res.headers.get("content-type") ?? "").startsWith("text/html");
        },
      ),
      100,
    );
    const oddCharset = await fetch(`${gateway.adminUrl}/console/prices/echo/rules/0`, {
      method: "POST",
      headers: { cookie: client.cookieHeader, "content-type": "application/x-www-form-urlencoded; charset=koi8-r" },
      body: `csrf=${csrf}`,
    });
    expect(oddCharset.status).toBe(415);
    expect(await priceMsat()).toBe(before);
  }, 120_000);

  it("lists tokens with filters and pages, and answers a bad list query 400 in HTML or JSON", async () => {
    const client = await operator();
    // The earlier tests' challenges issued tokens (each 402 of a metered service makes one).
    const issued = await gateway.store.browseTokens({ sort: "created", order: "desc", limit: 100, offset: 0 });
    expect(issued.totals.count).toBeGreaterThanOrEqual(2);
    const list = await (await client.request("/console/tokens?service=echo&size=10")).text();
    expect(list).toContain(`data-figure="total-count">${issued.totals.count.toLocaleString("en-US")}<`);
    for (const { token } of issued.tokens.slice(0, 10)) expect(list).toContain(`data-token="${token.tokenId}"`);
    const sorted = await (await client.request("/console/tokens?sort=paid&order=asc")).text();
    expect(sorted).toContain('aria-sort="ascending"');
    const beyond = await (await client.request("/console/tokens?size=100&page=50&sort=paid")).text();
    expect(beyond).toContain('data-code="no_tokens"');
    expect(beyond).toContain('href="/console/tokens?sort=paid&amp;size=100&amp;page=49" rel="prev"');

    for (const query of [
      "sort=price",
      "service=nope",
      "size=7",
      "page=0",
      "page=x",
      "status=paid&color=red",
      "page=1&page=2",
    ]) {
      const refused = await client.request(`/console/tokens?${query}`);
      expect(refused.status, query).toBe(400);
      expect(await refused.text(), query).toContain('data-code="invalid_query"');
    }
    const json = await client.request("/console/tokens?scheme=lsat", { headers: { accept: "application/json" } });
    expect(json.status).toBe(400);
    expect(await json.json()).toEqual({
      code: "invalid_query",
      message: "The token list cannot show that: scheme: l402 or payment.",
      problems: ["scheme: l402 or payment"],
    });
  });

  it("charts challenges per service from the store, including those of the last minute", async () => {
    const client = await operator();
    const overview = await (await client.request("/console/overview")).text();
    const challenges = await gateway.metrics.challengesIssued.get();
    const echo = challenges.values.find((v) => (v.labels as { service?: string }).service === "echo")?.value ?? 0;
    expect(echo).toBeGreaterThan(0);
    for (const window of ["24h", "30d"]) {
      expect(overview).toContain(`data-figure="series-${window}-echo-challenges">${echo.toLocaleString("en-US")}<`);
    }
    expect(overview).not.toContain("no surge pricing");
    expect(overview).toContain("No service uses surge pricing");
  });

  // Last: it spends this address's sign-in attempts.
  it("refuses a sign-in form that did not come from the console, and limits attempts per address", async () => {
    const client = admin();
    const forged = await client.request("/console/sign-in", { form: { csrf: "forged", secret: SECRET } });
    expect(forged.status).toBe(403);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await admin().signIn("wrong")).status);
    expect(statuses).toContain(429);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
  });
});
