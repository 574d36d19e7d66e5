import type { ChargeEntry, TokenRecord } from "../store/store.js";
import { figure, html, type SafeHtml } from "./html.js";
import { type RefundView, refundedMsatOf } from "./refunds.js";

const when = (date: Date | undefined) => (date ? date.toISOString() : "—");

export function renderSearch(query: string, found: readonly TokenRecord[] | undefined, problem?: string): SafeHtml {
  return html`<form method="get" action="/console/tokens" role="search">
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
<p><a href="/console/tokens">Search another token</a></p>`;
}
