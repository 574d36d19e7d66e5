import { figure, html, type SafeHtml } from "./html.js";

const PALETTE = ["#1f5fa8", "#b3541e", "#2f7d32", "#7b3fa0", "#8a6d00"];
const LABEL_WIDTH = 180;
const BAR_WIDTH = 300;

/*
 * Charts are drawn on the server as SVG: no script, no external asset. Each is an image with a title for screen
 * readers, and every figure it shows is also in a table beside it.
 */

/** A gauge-like bar for a ratio in [0, 1] (conversion, load), with its percentage written beside it. */
export function ratioBar(id: string, title: string, ratio: number): SafeHtml {
  const clamped = Math.min(Math.max(ratio, 0), 1);
  const percent = `${(ratio * 100).toFixed(1)} %`;
  return html`<svg class="ratio" role="img" aria-labelledby="${id}-title" width="220" height="22" viewBox="0 0 220 22" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="13"><title id="${id}-title">${title}: ${percent}</title><rect x="0" y="3" width="150" height="16" fill="#e4e4e4" stroke="#6b6b6b"/><rect x="0" y="3" width="${Math.round(clamped * 150)}" height="16" fill="#1f5fa8"/><text x="158" y="16" fill="#1a1a1a">${percent}</text></svg>`;
}

export interface BarGroup {
  readonly label: string;
  readonly values: readonly { readonly series: string; readonly value: number }[];
}

/** Bars grouped by label, one per series (a colour each, named in a legend), on one scale. */
export function groupedBarChart(id: string, title: string, groups: readonly BarGroup[], unit: string): SafeHtml {
  const bars = groups.flatMap((group) =>
    group.values.map((v, i) => ({ label: i === 0 ? group.label : "", series: i, value: v.value })),
  );
  if (bars.length === 0) return html`<p class="empty">${title}: nothing yet.</p>`;
  const series = groups[0]?.values.map((v) => v.series) ?? [];
  const max = Math.max(...bars.map((bar) => bar.value), 1);
  const row = 18;
  const legend = 24;
  const width = LABEL_WIDTH + BAR_WIDTH + 110;
  const height = legend + bars.length * row + groups.length * 8 + 4;
  let y = legend;
  const rows = bars.map((bar, i) => {
    if (bar.label !== "" && i > 0) y += 8;
    const top = y;
    y += row;
    const length = bar.value > 0 ? Math.max(2, Math.round((bar.value / max) * BAR_WIDTH)) : 0;
    return html`${bar.label === "" ? "" : html`<text x="${LABEL_WIDTH - 8}" y="${top + 13}" text-anchor="end">${bar.label}</text>`}
<rect x="${LABEL_WIDTH}" y="${top + 2}" width="${length}" height="${row - 4}" fill="${PALETTE[bar.series % PALETTE.length]}"/>
<text x="${LABEL_WIDTH + length + 6}" y="${top + 13}">${figure(bar.value)} ${unit}</text>`;
  });
  const key = series.map(
    (name, i) =>
      html`<rect x="${LABEL_WIDTH + i * 110}" y="4" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/><text x="${
        LABEL_WIDTH + i * 110 + 16
      }" y="15">${name}</text>`,
  );
  return html`<svg class="chart" role="img" aria-labelledby="${id}-title" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="13" fill="#1a1a1a"><title id="${id}-title">${title}</title>${key}${rows}</svg>`;
}

export interface Column {
  readonly label: string;
  readonly value: number;
}

/**
 * Values over time as columns, oldest on the left, on one scale from zero; every `labelEvery`th column is named
 * under the axis, and the highest value is written at the top of the scale.
 */
export function columnChart(
  id: string,
  title: string,
  columns: readonly Column[],
  unit: string,
  labelEvery: number,
): SafeHtml {
  const step = columns.length > 24 ? 14 : 18;
  const left = 64;
  const top = 12;
  const plot = 90;
  const width = left + columns.length * step + 8;
  const height = top + plot + 22;
  const max = Math.max(...columns.map((c) => c.value), 0);
  const scale = Math.max(max, 1);
  const bars = columns.map((column, i) => {
    const length = column.value > 0 ? Math.max(2, Math.round((column.value / scale) * plot)) : 0;
    const x = left + i * step;
    return html`<rect x="${x + 1}" y="${top + plot - length}" width="${step - 2}" height="${length}" fill="${PALETTE[0]}"><title>${
      column.label
    }: ${figure(column.value)} ${unit}</title></rect>${
      i % labelEvery === 0 ? html`<text x="${x}" y="${top + plot + 16}" font-size="11">${column.label}</text>` : ""
    }`;
  });
  return html`<svg class="chart" role="img" aria-labelledby="${id}-title" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="12" fill="#1a1a1a"><title id="${id}-title">${title}</title><line x1="${left}" y1="${
    top + plot
  }" x2="${width - 4}" y2="${top + plot}" stroke="#6b6b6b"/><text x="${left - 6}" y="${top + 4}" text-anchor="end">${figure(
    max,
  )}</text><text x="${left - 6}" y="${top + plot}" text-anchor="end">0 ${unit}</text>${bars}</svg>`;
}
