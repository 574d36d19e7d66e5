import type { ServiceConfig } from "../config/schema.js";
import { type CheckResult, checkReadiness } from "../health/readiness.js";
import type { InvoiceBackend } from "../lightning/invoices.js";
import type { GatewayMetrics } from "../metrics/metrics.js";
import type { PriceBook } from "../pricing/price-book.js";
import { MULTIPLIER_SCALE } from "../pricing/quote.js";
import type { PaymentsRow, RevenueRow, TokenStore } from "../store/store.js";
import { barChart, ratioBar } from "./charts.js";
import { figure, html, type SafeHtml } from "./html.js";

export const WINDOWS = [
  { id: "hour", title: "last hour", ms: 3_600_000 },
  { id: "day", title: "last day", ms: 86_400_000 },
  { id: "week", title: "last week", ms: 7 * 86_400_000 },
] as const;

export interface WindowFigures {
  readonly id: (typeof WINDOWS)[number]["id"];
  readonly title: string;
  readonly payments: readonly PaymentsRow[];
  readonly charges: readonly RevenueRow[];
}

export interface Conversion {
  readonly service: string;
  /** Challenges answered with a fresh invoice since this process started (l402_challenges_issued_total). */
  readonly challenges: number;
  /** Tokens paid since this process started (l402_invoices_settled_total). */
  readonly paid: number;
}

export interface OverviewFigures {
  readonly windows: readonly WindowFigures[];
  readonly conversion: readonly Conversion[];
  readonly activeTokens: number;
  readonly outstandingMsat: number;
  readonly surge: readonly { service: string; multiplier: number; load: number | undefined }[];
  readonly health: { readonly lnd: CheckResult; readonly store: CheckResult };
}

export interface OverviewSources {
  readonly services: readonly ServiceConfig[];
  readonly store: TokenStore;
  readonly book: PriceBook;
  readonly metrics: GatewayMetrics;
  readonly backend: InvoiceBackend;
}

/** Sums a counter's values by its `service` label: what /metrics shows, summed over the other labels. */
async function byService(counter: { get(): Promise<{ values: { labels: object; value: number }[] }> }) {
  const sums = new Map<string, number>();
  for (const { labels, value } of (await counter.get()).values) {
    const service = (labels as { service?: unknown }).service;
    if (typeof service === "string") sums.set(service, (sums.get(service) ?? 0) + value);
  }
  return sums;
}

/** Reads every figure of the overview: money from the store, traffic from the metrics, health afresh. */
export async function readOverview(sources: OverviewSources, now = new Date()): Promise<OverviewFigures> {
  const { store, book, metrics } = sources;
  const windows = await Promise.all(
    WINDOWS.map(async (w) => {
      const since = new Date(now.getTime() - w.ms);
      const [payments, charges] = await Promise.all([store.paymentsByService(since), store.revenueByModel(since)]);
      return { id: w.id, title: w.title, payments, charges };
    }),
  );
  const [challenges, paid, activeTokens, outstandingMsat, readiness] = await Promise.all([
    byService(metrics.challengesIssued),
    byService(metrics.invoicesSettled),
    store.countActiveTokens(now),
    store.outstandingBalanceMsat(),
    checkReadiness({ backend: sources.backend, store, services: [], timeoutMs: 2_000 }),
  ]);
  return {
    windows,
    conversion: sources.services.map((s) => ({
      service: s.name,
      challenges: challenges.get(s.name) ?? 0,
      paid: paid.get(s.name) ?? 0,
    })),
    activeTokens,
    outstandingMsat,
    surge: book.services().map((service) => ({
      service,
      multiplier: book.multiplierMilli(service) / MULTIPLIER_SCALE,
      load: book.surgeMonitor(service)?.load,
    })),
    health: { lnd: readiness.checks.lnd, store: readiness.checks.store },
  };
}

const health = (name: string, check: CheckResult) =>
  html`<li data-figure="health-${name}"><span class="label">${name}</span><span class="value ${check.ok ? "ok" : "bad"}">${
    check.ok ? "up" : "down"
  }</span>${check.error ? html`<span class="hint">${check.error}</span>` : ""}</li>`;

function windowSection(w: WindowFigures): SafeHtml {
  const totalSats = w.payments.reduce((sum, p) => sum + p.sats, 0);
  return html`<section aria-labelledby="w-${w.id}"><h2 id="w-${w.id}">Revenue, ${w.title}</h2>
<p>Payments received: <strong data-figure="payments-sats-${w.id}">${figure(totalSats)}</strong> sats.</p>
${barChart(
  `pay-${w.id}`,
  `Payments by service, ${w.title} (sats)`,
  w.payments.map((p) => ({ label: p.service, value: p.sats })),
  "sats",
)}
<table><caption>Payments by service, ${w.title}</caption>
<thead><tr><th scope="col">Service</th><th scope="col" class="num">Sats</th><th scope="col" class="num">Invoices</th></tr></thead>
<tbody>${w.payments.map(
    (p) =>
      html`<tr><th scope="row">${p.service}</th><td class="num" data-figure="payments-${w.id}-${p.service}">${figure(
        p.sats,
      )}</td><td class="num">${figure(p.invoices)}</td></tr>`,
  )}</tbody></table>
${barChart(
  `charge-${w.id}`,
  `Charges from prepaid balances by service and model, ${w.title} (msat)`,
  w.charges.map((c) => ({ label: `${c.service} · ${c.model}`, value: c.chargedMsat })),
  "msat",
)}
<table><caption>Charges by service and model, ${w.title}</caption>
<thead><tr><th scope="col">Service</th><th scope="col">Model</th><th scope="col" class="num">Msat</th><th scope="col" class="num">Calls</th></tr></thead>
<tbody>${w.charges.map(
    (c) =>
      html`<tr><th scope="row">${c.service}</th><td>${c.model}</td><td class="num" data-figure="charged-${w.id}-${c.service}-${
        c.model
      }">${figure(c.chargedMsat)}</td><td class="num">${figure(c.requests)}</td></tr>`,
  )}</tbody></table></section>`;
}

export function renderOverview(o: OverviewFigures): SafeHtml {
  return html`<ul class="cards" aria-label="At a glance">
<li><span class="label">Active tokens</span><span class="value" data-figure="active-tokens">${figure(o.activeTokens)}</span></li>
<li><span class="label">Outstanding prepaid balance (owed to agents)</span><span class="value" data-figure="outstanding-msat">${figure(
    o.outstandingMsat,
  )} msat</span></li>
${health("lnd", o.health.lnd)}${health("store", o.health.store)}</ul>
<section aria-labelledby="conv"><h2 id="conv">Challenges issued and paid</h2>
<p class="hint">Since this gateway process started, as <code>/metrics</code> counts them.</p>
<table><caption>Conversion by service</caption>
<thead><tr><th scope="col">Service</th><th scope="col" class="num">Challenges</th><th scope="col" class="num">Paid</th><th scope="col">Conversion</th></tr></thead>
<tbody>${o.conversion.map(
    (c) =>
      html`<tr><th scope="row">${c.service}</th><td class="num" data-figure="challenges-${c.service}">${figure(
        c.challenges,
      )}</td><td class="num" data-figure="paid-${c.service}">${figure(c.paid)}</td><td>${ratioBar(
        `conv-${c.service}`,
        `${c.service}: challenges paid`,
        c.challenges > 0 ? c.paid / c.challenges : 0,
      )}</td></tr>`,
  )}</tbody></table></section>
<section aria-labelledby="load"><h2 id="load">Surge and backend load</h2>
${
  o.surge.length === 0
    ? html`<p>No metered service.</p>`
    : html`<table><caption>Current surge multiplier by metered service</caption>
<thead><tr><th scope="col">Service</th><th scope="col" class="num">Multiplier</th><th scope="col">Backend load</th></tr></thead>
<tbody>${o.surge.map(
        (s) =>
          html`<tr><th scope="row">${s.service}</th><td class="num" data-figure="surge-${s.service}">${s.multiplier.toFixed(
            3,
          )}×</td><td>${
            s.load === undefined
              ? "no surge pricing"
              : ratioBar(`load-${s.service}`, `${s.service}: busy and queued over slots`, s.load)
          }</td></tr>`,
      )}</tbody></table>`
}</section>
${o.windows.map(windowSection)}`;
}
