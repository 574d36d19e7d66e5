import type { TokenBrowsePage } from "../store/owner-reports.js";
import type { ChargeEntry, TokenRecord } from "../store/store.js";
import { figure, html, type SafeHtml } from "./html.js";
import { type RefundView, refundedMsatOf } from "./refunds.js";
import { listUrl, PAGE_SIZES, type TokenQuery } from "./token-query.js";

const when = (date: Date | undefined) => (date ? date.toISOString() : "—");
const minute = (date: Date | undefined) => (date ? date.toISOString().slice(0, 16).replace("T", " ") : "—");

const SORT_COLUMNS = {
  created: "Created (UTC)",
  paid: "Paid (msat)",
  balance: "Balance (msat)",
  used: "Last charge (UTC)",
};

const select = (
  id: string,
  label: string,
  options: readonly (readonly [string, string])[],
  selected: string | undefined,
) =>
  html`<div class="field"><label for="${id}">${label}</label><select id="${id}" name="${id}">${options.map(
    ([value, text]) => html`<option value="${value}"${value === (selected ?? "") ? " selected" : ""}>${text}</option>`,
  )}</select></div>`;

/** A column header that sorts by it: descending first, then toggled; the current sort is marked for screen readers. */
function sortHeader(query: TokenQuery, sort: TokenQuery["sort"]): SafeHtml {
  const current = query.sort === sort;
  const order = current && query.order === "desc" ? "asc" : "desc";
  const ariaSort = current ? (query.order === "desc" ? "descending" : "ascending") : undefined;
  return html`<th scope="col" class="num"${ariaSort ? html` aria-sort="${ariaSort}"` : ""}><a href="${listUrl(query, {
    sort,
    order,
    page: 1,
  })}" data-sort="${sort}">${SORT_COLUMNS[sort]}${current ? (query.order === "desc" ? " ↓" : " ↑") : ""}</a></th>`;
}

/** Recent tokens: filters, totals of the filtered set, a sortable table, and pages. */
export function renderTokenList(query: TokenQuery, found: TokenBrowsePage, services: readonly string[]): SafeHtml {
  const { totals } = found;
  const pages = Math.max(1, Math.ceil(totals.count / query.size));
  const first = totals.count === 0 ? 0 : (query.page - 1) * query.size + 1;
  const last = (query.page - 1) * query.size + found.tokens.length;
  const total = (id: string, label: string, value: string) =>
    html`<li><span class="label">${label}</span><span class="value" data-figure="${id}">${value}</span></li>`;
  return html`<section aria-labelledby="list"><h2 id="list">Recent tokens</h2>
<form method="get" action="/console/tokens" class="filters" aria-label="Filter tokens">
${select("service", "Service", [["", "any"], ...services.map((s) => [s, s] as const)], query.service)}
${select(
  "status",
  "Status",
  [
    ["", "any"],
    ["issued", "issued (unpaid)"],
    ["paid", "paid"],
    ["revoked", "revoked"],
  ],
  query.status,
)}
${select(
  "scheme",
  "Scheme",
  [
    ["", "any"],
    ["l402", "L402"],
    ["payment", "Payment"],
  ],
  query.scheme,
)}
${select("sort", "Sort by", Object.entries(SORT_COLUMNS), query.sort)}
${select(
  "order",
  "Order",
  [
    ["desc", "descending"],
    ["asc", "ascending"],
  ],
  query.order,
)}
${select(
  "size",
  "Per page",
  PAGE_SIZES.map((n) => [String(n), String(n)] as const),
  String(query.size),
)}
<button type="submit" id="filter">Show</button></form>
<ul class="cards" aria-label="Totals of the tokens shown by these filters">
${total("total-count", "Tokens", figure(totals.count))}${total("total-paid", "Paid", `${figure(totals.paidMsat)} msat`)}
${total("total-outstanding", "Balance outstanding", `${figure(totals.outstandingMsat)} msat`)}
${total("total-refunded", "Refunded", `${figure(totals.refundedMsat)} msat`)}</ul>
${
  found.tokens.length === 0
    ? html`<p role="status" data-code="no_tokens">No token matches these filters${query.page > 1 ? " on this page" : ""}.</p>`
    : html`<table id="token-list"><caption>Tokens ${figure(first)}–${figure(last)} of ${figure(totals.count)}</caption>
<thead><tr><th scope="col">Token</th><th scope="col">Service</th><th scope="col">Status</th><th scope="col">Scheme</th>
${sortHeader(query, "created")}${sortHeader(query, "paid")}${sortHeader(query, "balance")}<th scope="col" class="num">Calls</th>${sortHeader(
        query,
        "used",
      )}</tr></thead>
<tbody>${found.tokens.map(
        ({ token: t, paidMsat, lastUsedAt }) =>
          html`<tr data-token="${t.tokenId}"><td><a href="/console/tokens/${t.tokenId}"><code>${t.tokenId.slice(
            0,
            12,
          )}…</code></a></td><td>${t.service}</td><td>${t.status}</td><td>${t.scheme === "payment" ? "Payment" : "L402"}</td>
<td class="num">${minute(t.createdAt)}</td><td class="num">${figure(paidMsat)}</td><td class="num">${
            t.metered ? figure(t.account.balanceMsat) : "—"
          }</td><td class="num">${t.metered ? figure(t.account.requests) : "—"}</td><td class="num">${minute(lastUsedAt)}</td></tr>`,
      )}</tbody></table>`
}
<nav aria-label="Pages of tokens" class="pager"><span>Page ${figure(query.page)} of ${figure(pages)}</span>${
    query.page > 1 ? html` <a href="${listUrl(query, { page: query.page - 1 })}" rel="prev">Previous page</a>` : ""
  }${query.page < pages ? html` <a href="${listUrl(query, { page: query.page + 1 })}" rel="next">Next page</a>` : ""}</nav></section>`;
}

export function renderSearch(query: string, found: readonly TokenRecord[] | undefined, problem?: string): SafeHtml {
  return html`<form method="get" action="/console/tokens" role="search" aria-label="Find a token">
<label for="q">Token id or payment hash <span class="hint">(64 hex digits)</span></label>
<input id="q" name="q" value="${query}" autocomplete="off" spellcheck="false"> <button type="submit">Search</button></form>
${problem ? html`<p class="error" role="alert" data-code="invalid_query">${problem}</p>` : ""}${
  found === undefined
    ? ""
    : found.length === 0
      ? html`<p role="status">No token has that id or payment hash.</p>`
      : html`<table><caption>Tokens found</caption><thead><tr><th scope="col">Token</th><th scope="col">Service</th><th scope="col">Status</th><th scope="col" class="num">Balance (msat)</th></tr></thead>
<tbody>${found.map(
          (t) =>
            html`<tr><td><a href="/console/tokens/${t.tokenId}"><code>${t.tokenId}</code></a></td><td>${t.service}</td><td>${t.status}</td><td class="num">${
              t.metered ? figure(t.account.balanceMsat) : "—"
            }</td></tr>`,
        )}</tbody></table>`
}`;
}

export function renderToken(
  token: TokenRecord,
  history: { readonly charges: readonly ChargeEntry[]; readonly refund: RefundView | undefined },
  csrfToken: string,
  notice?: string,
) {
  const { charges, refund } = history;
  const a = token.account;
  const refunded = refundedMsatOf(a);
  const row = (label: string, value: string, id?: string) =>
    html`<tr><th scope="row">${label}</th><td${id ? html` data-figure="${id}"` : ""}>${value}</td></tr>`;
  return html`${notice ? html`<p class="notice" role="status">${notice}</p>` : ""}
<table><caption>Token <code>${token.tokenId}</code></caption><tbody>
${row("Service", token.service)}${row("Status", token.status, "status")}${row("Payment hash", token.paymentHash)}
${row("Kind", token.metered ? "prepaid balance (metered)" : `access token, ${token.priceSats} sats`)}
${row("Balance (msat)", figure(a.balanceMsat), "balance")}${row("Reserved (msat)", figure(a.reservedMsat))}
${row("Credited (msat)", figure(a.creditedMsat))}${row("Charged (msat)", figure(a.chargedMsat))}${
  refunded === undefined ? "" : row("Refunded (msat)", figure(refunded), "refunded")
}${row("Calls", figure(a.requests))}${
  refund
    ? row(
        "Refund",
        `${figure(refund.amountMsat)} msat, ${refund.status}${refund.error ? ` (${refund.error})` : ""}`,
        "refund",
      )
    : ""
}
${row("Created", when(token.createdAt))}${row("Paid", when(token.paidAt))}${row("Valid until", when(token.validUntil))}${row(
  "Revoked",
  when(token.revokedAt),
)}</tbody></table>
<h2>History</h2>${
    charges.length === 0
      ? html`<p>No charge yet.</p>`
      : html`<table><caption>Latest charges, newest first</caption><thead><tr><th scope="col">When (UTC)</th><th scope="col">Model</th><th scope="col" class="num">Prompt</th><th scope="col" class="num">Completion</th><th scope="col" class="num">Msat</th><th scope="col">Why</th></tr></thead>
<tbody>${charges.map(
          (c) =>
            html`<tr><td>${c.at.toISOString()}</td><td>${c.model}</td><td class="num">${
              c.promptTokens ?? "—"
            }</td><td class="num">${c.completionTokens ?? "—"}</td><td class="num">${figure(c.amountMsat)}</td><td>${c.reason}</td></tr>`,
        )}</tbody></table>`
  }${
    token.status === "revoked"
      ? ""
      : html`<h2>Revoke</h2><p>A revoked token is refused at once, also after a restart; its balance is not refunded.</p>
<form method="post" action="/console/tokens/${token.tokenId}/revoke"><input type="hidden" name="csrf" value="${csrfToken}">
<button type="submit">Revoke this token</button></form>`
  }
<p><a href="/console/tokens">Back to the tokens</a></p>`;
}
