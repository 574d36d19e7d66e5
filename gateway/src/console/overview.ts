import type { ServiceConfig } from "../config/schema.js";
import { type CheckResult, checkReadiness } from "../health/readiness.js";
import type { InvoiceBackend } from "../lightning/invoices.js";
import type { GatewayMetrics } from "../metrics/metrics.js";
import type { PriceBook } from "../pricing/price-book.js";
import { MULTIPLIER_SCALE } from "../pricing/quote.js";
import type { AccountReports, PaymentsRow, RevenueRow, StoreLifecycle } from "../store/store.js";
import { groupedBarChart, ratioBar } from "./charts.js";
import { figure, html, type SafeHtml } from "./html.js";

/** The model the store records for a charge whose request named none (a non-LLM route). */
const NO_MODEL = "-";

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
  /** The totals of the money figures, and the write probe of the health figures. */
  readonly store: AccountReports & Pick<StoreLifecycle, "ping">;
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

const health = (id: string, name: string, check: CheckResult) =>
  html`<li data-figure="health-${id}"><span class="label">${name}</span><span class="value ${check.ok ? "ok" : "bad"}">${
    check.ok ? "up" : "down"
  }</span>${check.error ? html`<span class="hint">${check.error}</span>` : ""}</li>`;

/** Payments and charges over each window: one chart of payments by service and window, then a table of each. */
function revenueSection(windows: readonly WindowFigures[]): SafeHtml {
  const services = [...new Set(windows.flatMap((w) => w.payments.map((p) => p.service)))].sort();
  const lines = [
    ...new Map(windows.flatMap((w) => w.charges.map((c) => [`${c.service}\u0000${c.model}`, c] as const))).values(),
  ].sort((a, b) => a.service.localeCompare(b.service) || a.model.localeCompare(b.model));
  const paymentOf = (w: WindowFigures, service: string) => w.payments.find((p) => p.service === service);
  const chargeOf = (w: WindowFigures, line: RevenueRow) =>
    w.charges.find((c) => c.service === line.service && c.model === line.model);
  const head = html`${windows.map((w) => html`<th scope="col" class="num">${w.title}</th>`)}`;
  return html`<section aria-labelledby="revenue"><h2 id="revenue">Revenue</h2>
<p>Payments received: ${windows.map(
    (w, i) =>
      html`${i > 0 ? ", " : ""}<strong data-figure="payments-sats-${w.id}">${figure(
        w.payments.reduce((sum, p) => sum + p.sats, 0),
      )}</strong> sats in the ${w.title}`,
  )}.</p>
${groupedBarChart(
  "payments",
  "Payments by service and window (sats)",
  services.map((service) => ({
    label: service,
    values: windows.map((w) => ({ series: w.title, value: paymentOf(w, service)?.sats ?? 0 })),
  })),
  "sats",
)}
<table><caption>Payments by service (sats, with the number of invoices)</caption>
<thead><tr><th scope="col">Service</th>${head}</tr></thead>
<tbody>${services.map(
    (service) =>
      html`<tr><th scope="row">${service}</th>${windows.map((w) => {
        const p = paymentOf(w, service);
        return html`<td class="num"><span data-figure="payments-${w.id}-${service}">${figure(p?.sats ?? 0)}</span> (${figure(
          p?.invoices ?? 0,
        )})</td>`;
      })}</tr>`,
  )}</tbody></table>
${groupedBarChart(
  "charges",
  "Charges from prepaid balances by service and model, per window (msat)",
  lines.map((line) => ({
    label: line.model === NO_MODEL ? line.service : `${line.service} · ${line.model}`,
    values: windows.map((w) => ({ series: w.title, value: chargeOf(w, line)?.chargedMsat ?? 0 })),
  })),
  "msat",
)}
<table><caption>Charges by service and model (msat, with the number of calls)</caption>
<thead><tr><th scope="col">Service</th><th scope="col">Model</th>${head}</tr></thead>
<tbody>${lines.map(
    (line) =>
      html`<tr><th scope="row">${line.service}</th><td>${line.model === NO_MODEL ? "" : line.model}</td>${windows.map(
        (w) => {
          const c = chargeOf(w, line);
          return html`<td class="num"><span data-figure="charged-${w.id}-${line.service}-${line.model}">${figure(
            c?.chargedMsat ?? 0,
          )}</span> (${figure(c?.requests ?? 0)})</td>`;
        },
      )}</tr>`,
  )}</tbody></table></section>`;
}

/** Surge multipliers and backend load, for the services whose pricing has surge; a line when none has. */
function surgeTable(surge: OverviewFigures["surge"]): SafeHtml {
  const surging = surge.filter((s) => s.load !== undefined);
  if (surging.length === 0) return html`<p>No service uses surge pricing: every price is as configured.</p>`;
  return html`<table><caption>Current surge multiplier by service with surge pricing</caption>
<thead><tr><th scope="col">Service</th><th scope="col" class="num">Multiplier</th><th scope="col">Backend load</th></tr></thead>
<tbody>${surging.map(
    (s) =>
      html`<tr><th scope="row">${s.service}</th><td class="num" data-figure="surge-${s.service}">${s.multiplier.toFixed(
        3,
      )}×</td><td>${ratioBar(`load-${s.service}`, `${s.service}: busy and queued over slots`, s.load ?? 0)}</td></tr>`,
  )}</tbody></table>`;
}

export function renderOverview(o: OverviewFigures): SafeHtml {
  return html`<ul class="cards" aria-label="At a glance">
<li><span class="label">Active tokens</span><span class="value" data-figure="active-tokens">${figure(o.activeTokens)}</span></li>
<li><span class="label">Outstanding prepaid balance (owed to agents)</span><span class="value" data-figure="outstanding-msat">${figure(
    o.outstandingMsat,
  )} msat</span></li>
${health("lnd", "LND", o.health.lnd)}${health("store", "Token store", o.health.store)}</ul>
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
${surgeTable(o.surge)}</section>
${revenueSection(o.windows)}`;
}
