import type { Response } from "express";
import { html, type SafeHtml } from "./html.js";

/** The console's only stylesheet, served from /console/console.css (the CSP allows no inline style). */
export const CONSOLE_CSS = `
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, sans-serif; color: #1a1a1a; background: #fff; margin: 0; }
a { color: #0b4f9c; }
a:focus, button:focus, input:focus, select:focus, summary:focus { outline: 3px solid #b3541e; outline-offset: 2px; }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; }
header { background: #14304f; color: #fff; padding: 8px 16px; display: flex; gap: 24px; align-items: center; flex-wrap: wrap; }
header a { color: #fff; }
header nav ul { list-style: none; display: flex; gap: 16px; margin: 0; padding: 0; }
header nav a[aria-current="page"] { font-weight: 700; text-decoration-thickness: 3px; }
header form { margin-left: auto; }
main { padding: 16px; max-width: 1100px; }
h1 { font-size: 1.5rem; margin: 0.5rem 0 1rem; }
h2 { font-size: 1.2rem; margin-top: 1.5rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
caption { text-align: left; font-weight: 600; padding-bottom: 4px; }
th, td { border: 1px solid #8a8a8a; padding: 4px 8px; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; padding: 0; list-style: none; }
.cards li { border: 1px solid #8a8a8a; padding: 8px 12px; min-width: 160px; }
.cards .value { font-size: 1.3rem; font-weight: 700; display: block; }
.ok { color: #1d6b22; font-weight: 600; }
.bad { color: #a01c1c; font-weight: 600; }
.notice { border-left: 4px solid #1f5fa8; padding: 4px 12px; background: #eef3fa; }
.error { border-left: 4px solid #a01c1c; padding: 4px 12px; background: #fbeeee; }
label { display: block; font-weight: 600; margin-top: 8px; }
input, select { font: inherit; padding: 4px; border: 1px solid #6b6b6b; min-width: 16rem; }
button { font: inherit; padding: 4px 12px; margin-top: 10px; border: 1px solid #14304f; background: #14304f; color: #fff; }
button.secondary { background: #fff; color: #14304f; }
header button { margin: 0; background: #fff; color: #14304f; }
fieldset { border: 1px solid #8a8a8a; margin: 8px 0; }
.hint { color: #4a4a4a; font-weight: 400; font-size: 0.9rem; }
.chart, .ratio { display: block; margin: 4px 0 8px; }
code { font-size: 0.9rem; word-break: break-all; }
.filters { display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: flex-end; }
.filters select { min-width: 8rem; }
.pager { display: flex; gap: 16px; margin-bottom: 1rem; }
.series { border-top: 1px solid #8a8a8a; margin-top: 8px; }
.series h4 { margin: 8px 0 4px; }
.series-charts { display: flex; flex-wrap: wrap; gap: 8px 24px; }
figure { margin: 0; }
figcaption { font-weight: 600; font-size: 0.9rem; }
`;

export type Section = "overview" | "prices" | "tokens";

const SECTIONS: readonly { id: Section; title: string }[] = [
  { id: "overview", title: "Overview" },
  { id: "prices", title: "Prices" },
  { id: "tokens", title: "Tokens" },
];

export interface PageFrame {
  readonly title: string;
  /** The signed-in operator's section and CSRF token; absent on the sign-in page. */
  readonly signedIn?: { readonly section: Section | undefined; readonly csrfToken: string; readonly who: string };
}

/** A whole page: landmarks, a skip link, the navigation with the current page marked, and sign out. */
export function page(frame: PageFrame, body: SafeHtml): SafeHtml {
  const nav = frame.signedIn
    ? html`<nav aria-label="Console"><ul>${SECTIONS.map(
        (s) =>
          html`<li><a href="/console/${s.id}"${
            frame.signedIn?.section === s.id ? html` aria-current="page"` : ""
          }>${s.title}</a></li>`,
      )}</ul></nav>
<form method="post" action="/console/sign-out"><input type="hidden" name="csrf" value="${frame.signedIn.csrfToken}">
<span>Signed in as ${frame.signedIn.who}</span> <button type="submit">Sign out</button></form>`
    : "";
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${frame.title} · l402-gateway console</title><link rel="stylesheet" href="/console/console.css"></head>
<body><a class="skip" href="#main">Skip to content</a>
<header><strong>l402-gateway console</strong>${nav}</header>
<main id="main" tabindex="-1"><h1>${frame.title}</h1>
${body}</main></body></html>`;
}

/** Headers on every console answer: nothing cached, no framing, no script, styles and forms from here only. */
export const SECURITY_HEADERS: Record<string, string> = {
  "cache-control": "no-store",
  "content-security-policy":
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

export function sendPage(res: Response, status: number, body: SafeHtml): void {
  res.status(status).set(SECURITY_HEADERS).type("html").send(body.text);
}

/** An error as a page: the status, a machine-readable code in `data-code`, and what to do. */
export function sendErrorPage(
  res: Response,
  status: number,
  code: string,
  message: string,
  frame?: PageFrame["signedIn"],
): void {
  const body = html`<p class="error" role="alert" data-code="${code}">${message}</p>`;
  sendPage(res, status, page({ title: "Refused", ...(frame ? { signedIn: frame } : {}) }, body));
}
