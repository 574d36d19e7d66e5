import { figure, html, type SafeHtml } from "./html.js";

export interface Bar {
  readonly label: string;
  readonly value: number;
}

const PALETTE = ["#1f5fa8", "#b3541e", "#2f7d32", "#7b3fa0", "#8a6d00"];
const ROW = 26;
const LABEL_WIDTH = 180;
const BAR_WIDTH = 300;

/**
 * A horizontal bar chart drawn on the server: no script, no external asset. The chart is an image with a title for
 * screen readers; every figure it shows is also in a table beside it.
 */
export function barChart(id: string, title: string, bars: readonly Bar[], unit: string): SafeHtml {
  if (bars.length === 0) return html`<p class="empty">${title}: nothing yet.</p>`;
  const max = Math.max(...bars.map((bar) => bar.value), 1);
  const width = LABEL_WIDTH + BAR_WIDTH + 110;
  const height = bars.length * ROW + 8;
  const rows = bars.map((bar, i) => {
    const y = 4 + i * ROW;
    const length = bar.value > 0 ? Math.max(2, Math.round((bar.value / max) * BAR_WIDTH)) : 0;
    return html`<text x="${LABEL_WIDTH - 8}" y="${y + 16}" text-anchor="end">${bar.label}</text>
<rect x="${LABEL_WIDTH}" y="${y + 3}" width="${length}" height="${ROW - 8}" fill="${PALETTE[i % PALETTE.length]}"/>
<text x="${LABEL_WIDTH + length + 6}" y="${y + 16}">${figure(bar.value)} ${unit}</text>`;
  });
  return html`<svg class="chart" role="img" aria-labelledby="${id}-title" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="13" fill="#1a1a1a"><title id="${id}-title">${title}</title>${rows}</svg>`;
}

/** A gauge-like bar for a ratio in [0, 1] (conversion, load), with its percentage written beside it. */
export function ratioBar(id: string, title: string, ratio: number): SafeHtml {
  const clamped = Math.min(Math.max(ratio, 0), 1);
  const percent = `${(ratio * 100).toFixed(1)} %`;
  return html`<svg class="ratio" role="img" aria-labelledby="${id}-title" width="220" height="22" viewBox="0 0 220 22" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="13"><title id="${id}-title">${title}: ${percent}</title><rect x="0" y="3" width="150" height="16" fill="#e4e4e4" stroke="#6b6b6b"/><rect x="0" y="3" width="${Math.round(clamped * 150)}" height="16" fill="#1f5fa8"/><text x="158" y="16" fill="#1a1a1a">${percent}</text></svg>`;
}
