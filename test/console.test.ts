import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfigFile, type RunningGateway, startGateway } from "@l402-gateway/gateway";
import { formatAuthorization } from "@l402-gateway/l402";
import { pay } from "lightning";
import pino from "pino";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { testNetwork } from "./regtest/context.js";
import { gatewayLndConfig, lndClient } from "./regtest/network-file.js";
import { REPO_ROOT } from "./regtest/paths.js";
import { checkAccounting } from "./support/accounting.js";
import { ConsoleClient } from "./support/console-client.js";
import { type LiberalUpstream, startLiberalUpstream } from "./support/liberal-llm-upstream.js";
import { startUpstream, type TestUpstream } from "./support/upstream.js";
import { ensureBrowser } from "./tools/browser.js";

const network = testNetwork();
const alice = lndClient(network.nodes.alice);
const bob = lndClient(network.nodes.bob);
const ADMIN_SECRET = randomBytes(32).toString("base64url");
const ECHO_MSAT = 2_000;
const NEW_ECHO_MSAT = 5_000;
const WEATHER_SATS = 3;
const MODEL = "smol-test";
const SCREENSHOTS = join(REPO_ROOT, "docs", "console");

interface Bought {
  readonly authorization: string;
  readonly paymentHash: string;
  readonly tokenId: string;
}

/** Asks for a challenge, pays its invoice from bob's node, and returns the credential. */
async function buy(url: string, init: RequestInit): Promise<Bought> {
  const challenge = await fetch(url, init);
  expect(challenge.status).toBe(402);
  const body = (await challenge.json()) as {
    macaroon: string;
    invoice: string;
    payment_hash: string;
    token_id?: string;
  };
  const payment = await pay({ lnd: bob, request: body.invoice });
  const authorization = formatAuthorization({
    macaroons: [body.macaroon],
    preimage: Buffer.from(payment.secret, "hex"),
  });
  return { authorization, paymentHash: body.payment_hash, tokenId: body.token_id ?? "" };
}

/** A sample's value in Prometheus text: the sum over series of `name` whose labels include `labels`. */
function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z0-9_:]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const series = match[2] ?? "";
    if (Object.entries(labels).every(([key, value]) => series.includes(`${key}="${value}"`))) sum += Number(match[3]);
  }
  return sum;
}

/**
 * Runs in the page: form controls without a label, the number of h1, and text whose contrast with its background is
 * below WCAG AA (4.5:1; 3:1 for large text), by computed styles.
 */
const A11Y_AUDIT = `(() => {
  const controls = [...document.querySelectorAll("input:not([type=hidden]), select, textarea, button")];
  const unlabelled = controls.filter((c) => c.tagName === "BUTTON" ? !c.textContent.trim() : c.labels.length === 0)
    .map((c) => c.id || c.name || c.tagName);
  const rgb = (color) => (color.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const lowContrast = [];
  for (const e of document.querySelectorAll("body *")) {
    const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim() !== "");
    if (!own || e.closest("svg") || e.closest(".skip")) continue;
    const style = getComputedStyle(e);
    const [a, b] = [luminance(rgb(style.color).slice(0, 3)), luminance(background(e))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const large = parseFloat(style.fontSize) >= 24 || (parseFloat(style.fontSize) >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) lowContrast.push(e.tagName + ": " + e.textContent.trim().slice(0, 30) + " " + ratio.toFixed(2));
  }
  return { unlabelled, h1: document.querySelectorAll("h1").length, lowContrast };
})()`;

const number = (text: string | undefined) => Number((text ?? "").replace(/[^\d.]/g, ""));

describe("the web console in a real browser (regtest)", () => {
  let upstream: TestUpstream;
  let llm: LiberalUpstream;
  let gateway: RunningGateway;
  let browser: Browser;
  let page: Page;
  let storePath: string;
  const bought: Record<string, Bought> = {};

  beforeAll(async () => {
    upstream = await startUpstream();
    llm = await startLiberalUpstream();
    const dir = mkdtempSync(join(tmpdir(), "gw-console-"));
    storePath = join(dir, "gateway.sqlite");
    const configPath = join(dir, "gateway.yaml");
    const raw = {
      listen: { port: 0 },
      operator: { port: 0 },
      admin: { port: 0, secret: ADMIN_SECRET },
      lnd: gatewayLndConfig(network.nodes.alice),
      store: { path: storePath },
      log: { level: "silent" },
      limits: { challengeBurst: 100, challengesPerMinute: 100 },
      services: [
        {
          name: "echo",
          match: { pathPrefix: "/v1/echo" },
          upstream: upstream.url,
          pricing: { rules: [{ perCallMsat: ECHO_MSAT }] },
        },
        {
          name: "weather",
          match: { pathPrefix: "/v1/weather" },
          upstream: upstream.url,
          price: { sats: WEATHER_SATS },
        },
        {
          name: "llm",
          match: { pathPrefix: "/v1/chat" },
          upstream: llm.url,
          pricing: {
            rules: [{ tokens: { promptMsatPerToken: 10, completionMsatPerToken: 20 }, feeMsat: 100 }],
            defaultMaxTokens: 16,
          },
        },
      ],
    };
    writeFileSync(configPath, `# written by test/console.test.ts\n${stringify(raw)}`, { mode: 0o600 });
    gateway = await startGateway(loadConfigFile(configPath), { log: pino({ level: "silent" }), configPath });
    const chromium = await ensureBrowser();
    browser = await puppeteer.launch({
      executablePath: chromium.executablePath,
      args: [...chromium.args],
      headless: true,
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1100, height: 900 });
    mkdirSync(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
    await llm?.close();
    await upstream?.close();
  });

  const admin = (path: string) => `${gateway.adminUrl}${path}`;
  const shoot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const echoChallengeMsat = async () => {
    const challenge = await fetch(`${gateway.url}/v1/echo`, { method: "POST", body: "x" });
    expect(challenge.status).toBe(402);
    return ((await challenge.json()) as { price_msat: number }).price_msat;
  };
  const echo = (authorization: string) =>
    fetch(`${gateway.url}/v1/echo`, { method: "POST", body: "x", headers: { authorization } });

  it("buys tokens on regtest: a prepaid echo balance, a weather access token, an LLM balance", async () => {
    bought.echo = await buy(`${gateway.url}/v1/echo`, {
      method: "POST",
      body: "x",
      headers: { "x-l402-deposit-msat": "20000" },
    });
    for (let i = 0; i < 3; i++) expect((await echo(bought.echo.authorization)).status).toBe(200);
    bought.weather = await buy(`${gateway.url}/v1/weather`, { method: "GET" });
    const weather = await fetch(`${gateway.url}/v1/weather`, {
      headers: { authorization: bought.weather.authorization },
    });
    expect(weather.status).toBe(200);
    const chat = {
      method: "POST",
      headers: { "content-type": "application/json", "x-l402-deposit-msat": "30000" },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "What is a sat?" }] }),
    };
    bought.llm = await buy(`${gateway.url}/v1/chat/completions`, chat);
    const answer = await fetch(`${gateway.url}/v1/chat/completions`, {
      ...chat,
      headers: { ...chat.headers, authorization: bought.llm.authorization },
    });
    expect(answer.status).toBe(200);
    await answer.text();
    // Every invoice is seen settled, and every reservation closed, before the figures are read.
    await expect
      .poll(async () => (await gateway.store.paymentsByService()).reduce((n, p) => n + p.invoices, 0), {
        timeout: 30_000,
      })
      .toBe(3);
    await expect
      .poll(() => checkAccounting({ storePath, lnd: alice, quiescent: true }).then((v) => v.violations), {
        timeout: 30_000,
      })
      .toEqual([]);
  });

  it("signs in with the keyboard and shows an overview whose figures equal the store's and /metrics'", async () => {
    await page.goto(admin("/console/overview"));
    expect(new URL(page.url()).pathname).toBe("/console/sign-in");
    await shoot("sign-in");
    await page.focus("#secret");
    await page.keyboard.type(ADMIN_SECRET);
    await page.keyboard.press("Tab");
    await page.keyboard.type("Ada");
    await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
    expect(new URL(page.url()).pathname).toBe("/console/overview");
    const figures = Object.fromEntries(
      await page.$$eval("[data-figure]", (elements) =>
        elements.map((e) => [e.getAttribute("data-figure") ?? "", e.textContent ?? ""]),
      ),
    );
    await shoot("overview");

    const weekAgo = new Date(Date.now() - 7 * 86_400_000);
    const payments = await gateway.store.paymentsByService(weekAgo);
    const charges = await gateway.store.revenueByModel(weekAgo);
    expect(payments.map((p) => p.service).sort()).toEqual(["echo", "llm", "weather"]);
    for (const window of ["hour", "day", "week"]) {
      for (const p of payments) expect(number(figures[`payments-${window}-${p.service}`])).toBe(p.sats);
      for (const c of charges) expect(number(figures[`charged-${window}-${c.service}-${c.model}`])).toBe(c.chargedMsat);
      expect(number(figures[`payments-sats-${window}`])).toBe(payments.reduce((n, p) => n + p.sats, 0));
    }
    expect(charges.map((c) => `${c.service}/${c.model}`)).toEqual(["echo/-", `llm/${MODEL}`]);
    expect(number(figures["active-tokens"])).toBe(await gateway.store.countActiveTokens(new Date()));
    expect(number(figures["outstanding-msat"])).toBe(await gateway.store.outstandingBalanceMsat());

    const metrics = await (await fetch(`${gateway.operatorUrl}/metrics`)).text();
    for (const service of ["echo", "weather", "llm"]) {
      expect(number(figures[`challenges-${service}`])).toBe(
        metricValue(metrics, "l402_challenges_issued_total", { service }),
      );
      expect(number(figures[`paid-${service}`])).toBe(metricValue(metrics, "l402_invoices_settled_total", { service }));
      expect(number(figures[`paid-${service}`])).toBe(1);
    }
    expect(number(figures["active-tokens"])).toBe(metricValue(metrics, "l402_tokens_active"));
    expect(number(figures["outstanding-msat"]) / 1000).toBe(metricValue(metrics, "l402_prepaid_balance_sats"));
    expect(figures["health-lnd"]).toContain("up");
    expect(figures["health-store"]).toContain("up");
  });

  it("charts revenue, calls and challenges per service over 24 hours and 30 days, from the store", async () => {
    await page.goto(admin("/console/overview"));
    const figures = Object.fromEntries(
      await page.$$eval("[data-figure]", (elements) =>
        elements.map((e) => [e.getAttribute("data-figure") ?? "", e.textContent ?? ""]),
      ),
    );
    const metrics = await (await fetch(`${gateway.operatorUrl}/metrics`)).text();
    const payments = await gateway.store.paymentsByService(new Date(Date.now() - 86_400_000));
    for (const service of ["echo", "weather", "llm"]) {
      for (const window of ["24h", "30d"]) {
        const at = (name: string) => number(figures[`series-${window}-${service}-${name}`]);
        expect(at("sats"), service).toBe(payments.find((p) => p.service === service)?.sats);
        expect(at("invoices"), service).toBe(1);
        expect(at("challenges"), service).toBe(metricValue(metrics, "l402_challenges_issued_total", { service }));
        expect(at("calls"), service).toBe(metricValue(metrics, "l402_paid_requests_total", { service }));
      }
    }
    // Two charts (revenue, calls) per service and window, each with one column per hour or day.
    const charts = await page.$$eval(
      'svg.chart[aria-labelledby^="rev-"], svg.chart[aria-labelledby^="calls-"]',
      (svgs) => svgs.map((svg) => svg.querySelectorAll("rect").length),
    );
    expect(charts).toEqual([24, 24, 24, 24, 24, 24, 30, 30, 30, 30, 30, 30]);
    const labels = await page.$$eval("svg.chart text", (texts) => texts.map((t) => t.textContent ?? ""));
    expect(labels).toContain("echo");
    expect(labels.some((label) => label.endsWith(" · -"))).toBe(false);
    expect(await page.$eval("#load", (h) => h.parentElement?.textContent ?? "")).toContain(
      "No service uses surge pricing",
    );
    const series = await page.$('[data-series="24h-llm"]');
    await series?.screenshot({ path: join(SCREENSHOTS, "revenue-series.png") });
  });

  it("browses recent tokens: filters, sorts by amount paid, pages, with the totals of the filtered set", async () => {
    // Unpaid challenges add issued tokens, so that the list has two pages of ten.
    for (let i = 0; i < 8; i++) expect((await fetch(`${gateway.url}/v1/weather`)).status).toBe(402);
    const rows = () => page.$$eval("#token-list tbody tr", (trs) => trs.map((tr) => tr.getAttribute("data-token")));
    const totals = async () =>
      Object.fromEntries(
        await page.$$eval('[data-figure^="total-"]', (elements) =>
          elements.map((e) => [e.getAttribute("data-figure") ?? "", e.textContent ?? ""]),
        ),
      );

    await page.goto(admin("/console/tokens"));
    await page.select("#service", "llm");
    await page.select("#status", "paid");
    await Promise.all([page.waitForNavigation(), page.click("#filter")]);
    expect(await rows()).toEqual([bought.llm?.tokenId]);
    const llm = await gateway.store.browseTokens({
      service: "llm",
      status: "paid",
      sort: "created",
      order: "desc",
      limit: 10,
      offset: 0,
    });
    expect(await totals()).toMatchObject({ "total-count": "1" });
    expect(number((await totals())["total-paid"])).toBe(llm.totals.paidMsat);
    expect(number((await totals())["total-outstanding"])).toBe(llm.totals.outstandingMsat);

    await page.select("#service", "");
    await Promise.all([page.waitForNavigation(), page.click("#filter")]);
    await Promise.all([page.waitForNavigation(), page.click('a[data-sort="paid"]')]);
    expect(new URL(page.url()).searchParams.get("sort")).toBe("paid");
    // The status filter stays: the paid tokens, most paid first. (A fixed-price 402 names no token id.)
    const [weather] = await gateway.store.listTokens({ paymentHash: bought.weather?.paymentHash ?? "" });
    expect(await rows()).toEqual([bought.llm?.tokenId, bought.echo?.tokenId, weather?.tokenId]);
    await shoot("tokens");

    await page.goto(admin("/console/tokens?size=10"));
    const all = await gateway.store.browseTokens({ sort: "created", order: "desc", limit: 100, offset: 0 });
    expect(all.totals.count).toBeGreaterThan(10);
    expect(number((await totals())["total-count"])).toBe(all.totals.count);
    expect(number((await totals())["total-paid"])).toBe((20 + WEATHER_SATS + 30) * 1000);
    const seen = await rows();
    while (await page.$('a[rel="next"]')) {
      await Promise.all([page.waitForNavigation(), page.click('a[rel="next"]')]);
      seen.push(...(await rows()));
    }
    expect(seen).toEqual(all.tokens.map((l) => l.token.tokenId));

    await page.goto(admin("/console/tokens?sort=cost"));
    expect(await page.$eval('[data-code="invalid_query"]', (e) => e.textContent)).toContain(
      "sort: one of created, paid, balance, used",
    );
  });

  it("previews and applies a price change, logs it, and the next 402 asks the new price", async () => {
    expect(await echoChallengeMsat()).toBe(ECHO_MSAT);
    await page.goto(admin("/console/prices"));
    await Promise.all([page.waitForNavigation(), page.click('a[href="/console/prices/echo/rules/0"]')]);
    await page.$eval("#perCallMsat", (input) => {
      (input as unknown as { value: string }).value = "";
    });
    await page.type("#perCallMsat", String(NEW_ECHO_MSAT));
    await Promise.all([page.waitForNavigation(), page.click("#preview")]);
    const preview = await page.$$eval("[data-preview]", (elements) => elements.map((e) => e.textContent ?? ""));
    expect(preview.map(number)).toEqual([ECHO_MSAT, NEW_ECHO_MSAT]);
    await shoot("price-preview");
    // Previewing changes nothing.
    expect(await echoChallengeMsat()).toBe(ECHO_MSAT);
    await Promise.all([page.waitForNavigation(), page.click("#apply")]);
    expect(new URL(page.url()).pathname).toBe("/console/prices");
    const audit = await page.$eval("#audit tbody tr", (row) => row.textContent ?? "");
    expect(audit).toContain("Ada");
    expect(audit).toContain(`{"perCallMsat":${ECHO_MSAT}}`);
    expect(audit).toContain(`{"perCallMsat":${NEW_ECHO_MSAT}}`);
    await shoot("prices");
    expect(await echoChallengeMsat()).toBe(NEW_ECHO_MSAT);
  });

  it("finds a token by its payment hash, shows its balance and history, and revokes it", async () => {
    expect((await echo(bought.echo?.authorization ?? "")).status).toBe(200);
    await page.goto(admin("/console/tokens"));
    await page.type("#q", bought.echo?.paymentHash ?? "");
    await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
    await Promise.all([page.waitForNavigation(), page.click(`a[href="/console/tokens/${bought.echo?.tokenId}"]`)]);
    const token = await gateway.store.getToken(bought.echo?.tokenId ?? "");
    const balance = await page.$eval('[data-figure="balance"]', (e) => e.textContent ?? "");
    expect(number(balance)).toBe(token?.account.balanceMsat);
    const history = await page.$$eval("table:nth-of-type(2) tbody tr", (rows) => rows.length);
    expect(history).toBe(4);
    await shoot("token");
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/revoke"] button')]);
    expect(await page.$eval('[data-figure="status"]', (e) => e.textContent)).toBe("revoked");
    const refused = await echo(bought.echo?.authorization ?? "");
    expect(refused.status).toBe(402);
    expect(((await refused.json()) as { code: string }).code).toBe("revoked");
  });

  it("is usable by keyboard and screen reader: a skip link first, labelled controls, one h1, readable contrast", async () => {
    for (const path of ["/console/overview", "/console/prices", "/console/prices/llm/rules/0", "/console/tokens"]) {
      await page.goto(admin(path));
      await page.keyboard.press("Tab");
      expect(await page.evaluate("document.activeElement.textContent"), path).toBe("Skip to content");
      const audit = (await page.evaluate(A11Y_AUDIT)) as { unlabelled: string[]; h1: number; lowContrast: string[] };
      expect(audit, path).toEqual({ unlabelled: [], h1: 1, lowContrast: [] });
    }
  });

  it("refuses a change without a session, and one without the session's CSRF token", async () => {
    const target = `/console/tokens/${bought.llm?.tokenId}/revoke`;
    const stranger = new ConsoleClient(gateway.adminUrl ?? "");
    const noSession = await stranger.request(target, { form: { csrf: "anything" } });
    expect(noSession.status).toBe(401);
    // The browser's own session cookie, with a forged form: what a cross-site page could at most make it send.
    const cookies = await browser.cookies();
    const session = cookies.find((c) => c.name === "l402_console");
    expect(session).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    const forged = await fetch(admin(target), {
      method: "POST",
      headers: { cookie: `l402_console=${session?.value}`, "content-type": "application/x-www-form-urlencoded" },
      body: "csrf=forged",
      redirect: "manual",
    });
    expect(forged.status).toBe(403);
    expect((await gateway.store.getToken(bought.llm?.tokenId ?? ""))?.status).toBe("paid");
    const llmCall = await fetch(`${gateway.url}/l402/balance`, {
      headers: { authorization: bought.llm?.authorization ?? "" },
    });
    expect(llmCall.status).toBe(200);
  });

  it("keeps the books: settled invoices on LND equal the credits, and every token's money adds up", async () => {
    const verdict = await checkAccounting({ storePath, lnd: alice, quiescent: true });
    expect(verdict.violations).toEqual([]);
    expect(verdict.totals.settledSats).toBe(20 + WEATHER_SATS + 30);
  });
});
