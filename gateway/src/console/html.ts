/** HTML that is already escaped: only `html` templates and `raw` make one. */
export class SafeHtml {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export type HtmlValue = SafeHtml | string | number | undefined | null | false | readonly HtmlValue[];

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char] ?? char);
}

function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === undefined || value === null || value === false) return "";
  return escapeHtml(String(value));
}

/** A template whose every interpolated value is escaped unless it is SafeHtml already. */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): SafeHtml {
  let text = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) text += render(values[i] as HtmlValue) + (strings[i + 1] ?? "");
  return new SafeHtml(text);
}

/** Formats an integer with thin grouping, as figures are shown everywhere in the console. */
export function figure(value: number): string {
  return value.toLocaleString("en-US");
}
