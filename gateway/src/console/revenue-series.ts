import type { OwnerReports, SeriesPoint } from "../store/owner-reports.js";
import { type Column, columnChart, ratioBar } from "./charts.js";
import { figure, html, type SafeHtml } from "./html.js";

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** The two series an owner reads: the last 24 hours by hour, the last 30 days by UTC day. */
export const SERIES_WINDOWS = [
  { id: "24h", title: "Last 24 hours, by hour (UTC)", bucketMs: HOUR_MS, buckets: 24, labelEvery: 3 },
  { id: "30d", title: "Last 30 days, by day (UTC)", bucketMs: DAY_MS, buckets: 30, labelEvery: 5 },
] as const;

type SeriesWindow = (typeof SERIES_WINDOWS)[number];

export interface ServiceSeries {
  readonly service: string;
  /** One point per bucket, oldest first, the current (partial) bucket last; zero where nothing happened. */
  readonly points: readonly SeriesPoint[];
}

export interface WindowSeries {
  readonly id: SeriesWindow["id"];
  readonly title: string;
  readonly labelEvery: number;
  readonly services: readonly ServiceSeries[];
}

/** The first bucket's start: `buckets` whole buckets ending with the one `now` is in. */
export function seriesStart(now: Date, bucketMs: number, buckets: number): Date {
  return new Date((Math.floor(now.getTime() / bucketMs) - buckets + 1) * bucketMs);
}

/** Every bucket of every service, zero-filled, from the store's sparse points. */
export function fillSeries(
  points: readonly SeriesPoint[],
  services: readonly string[],
  start: Date,
  bucketMs: number,
  buckets: number,
): ServiceSeries[] {
  const known = new Map(points.map((p) => [`${p.service}\u0000${p.start.getTime()}`, p]));
  const names = [...new Set([...services, ...points.map((p) => p.service)])];
  return names.map((service) => ({
    service,
    points: Array.from({ length: buckets }, (_, i) => {
      const at = start.getTime() + i * bucketMs;
      return (
        known.get(`${service}\u0000${at}`) ?? {
          service,
          start: new Date(at),
          paidSats: 0,
          invoices: 0,
          challenges: 0,
          calls: 0,
        }
      );
    }),
  }));
}

/** Both windows' series from the store. */
export async function readSeries(
  store: Pick<OwnerReports, "revenueSeries">,
  services: readonly string[],
  now = new Date(),
): Promise<WindowSeries[]> {
  return Promise.all(
    SERIES_WINDOWS.map(async (w) => {
      const start = seriesStart(now, w.bucketMs, w.buckets);
      const points = await store.revenueSeries(start, w.bucketMs);
      return {
        id: w.id,
        title: w.title,
        labelEvery: w.labelEvery,
        services: fillSeries(points, services, start, w.bucketMs, w.buckets),
      };
    }),
  );
}

const bucketLabel = (window: WindowSeries["id"], start: Date) =>
  window === "24h" ? `${start.toISOString().slice(11, 13)}h` : start.toISOString().slice(5, 10);

const sum = (points: readonly SeriesPoint[], key: "paidSats" | "invoices" | "challenges" | "calls") =>
  points.reduce((n, p) => n + p[key], 0);

function serviceFigures(window: WindowSeries, series: ServiceSeries): SafeHtml {
  const { service, points } = series;
  const id = `${window.id}-${service}`;
  const columns = (key: "paidSats" | "calls"): Column[] =>
    points.map((p) => ({ label: bucketLabel(window.id, p.start), value: p[key] }));
  const challenges = sum(points, "challenges");
  const invoices = sum(points, "invoices");
  const figureOf = (name: string, value: number) =>
    html`<strong data-figure="series-${id}-${name}">${figure(value)}</strong>`;
  return html`<div class="series" data-series="${id}"><h4>${service}</h4>
<p>${figureOf("sats", sum(points, "paidSats"))} sats from ${figureOf("invoices", invoices)} paid invoices, ${figureOf(
    "calls",
    sum(points, "calls"),
  )} paid calls, ${figureOf("challenges", challenges)} challenges.</p>
<div class="series-charts">
<figure><figcaption>Revenue (sats)</figcaption>${columnChart(
    `rev-${id}`,
    `${service}: revenue in sats, ${window.title}`,
    columns("paidSats"),
    "sats",
    window.labelEvery,
  )}</figure>
<figure><figcaption>Paid calls</figcaption>${columnChart(
    `calls-${id}`,
    `${service}: paid calls, ${window.title}`,
    columns("calls"),
    "calls",
    window.labelEvery,
  )}</figure>
<figure><figcaption>Conversion: invoices paid per challenge</figcaption>${ratioBar(
    `conv-${id}`,
    `${service}: invoices paid per challenge, ${window.title}`,
    challenges > 0 ? invoices / challenges : 0,
  )}</figure></div>
<details><summary>Every ${window.id === "24h" ? "hour" : "day"} of ${service} as a table</summary>
<table><caption>${service}, ${window.title}</caption><thead><tr><th scope="col">From (UTC)</th><th scope="col" class="num">Sats</th><th scope="col" class="num">Invoices</th><th scope="col" class="num">Calls</th><th scope="col" class="num">Challenges</th></tr></thead>
<tbody>${points.map(
    (p) =>
      html`<tr><th scope="row">${p.start.toISOString().slice(0, 16).replace("T", " ")}</th><td class="num">${figure(
        p.paidSats,
      )}</td><td class="num">${figure(p.invoices)}</td><td class="num">${figure(p.calls)}</td><td class="num">${figure(
        p.challenges,
      )}</td></tr>`,
  )}</tbody></table></details></div>`;
}

/** Revenue, calls and conversion per service over both windows, from the store (they survive restarts). */
export function renderSeries(windows: readonly WindowSeries[]): SafeHtml {
  return html`<section aria-labelledby="over-time"><h2 id="over-time">Revenue and calls over time</h2>
<p class="hint">From the token store, so across restarts: invoices paid (tokens, top-ups, Payment charges), calls proxied on a
paid credential, and 402 challenges answered (these two are written to the store about once a minute).</p>
${windows.map(
  (w) =>
    html`<h3>${w.title}</h3>${w.services.length === 0 ? html`<p>No service.</p>` : w.services.map((s) => serviceFigures(w, s))}`,
)}</section>`;
}
