import type { ServiceConfig } from "../config/schema.js";
import type { PriceBook } from "../pricing/price-book.js";
import { MULTIPLIER_SCALE } from "../pricing/quote.js";
import type { PriceRule } from "../pricing/schema.js";
import type { AuditEntry } from "./audit.js";
import { figure, html, type SafeHtml } from "./html.js";
import type { PreviewQuote, SampleRequest } from "./price-editor.js";
import type { RuleForm } from "./rule-form.js";

const scaled = (msat: number, multiplierMilli: number) => Math.ceil((msat * multiplierMilli) / MULTIPLIER_SCALE);

function describeRule(rule: PriceRule): string {
  const parts = [
    rule.perCallMsat !== undefined ? `${figure(rule.perCallMsat)} msat per call` : "",
    rule.tokens
      ? `${figure(rule.tokens.promptMsatPerToken)} msat per prompt token, ${figure(rule.tokens.completionMsatPerToken)} per completion token`
      : "",
    rule.feeMsat ? `fee ${figure(rule.feeMsat)} msat` : "",
    rule.minimumMsat ? `minimum ${figure(rule.minimumMsat)} msat` : "",
  ];
  return parts.filter((p) => p !== "").join(", ");
}

/** The rule's prices with the current surge multiplier applied, as new quotes use them. */
function effective(rule: PriceRule, multiplierMilli: number): string {
  if (rule.perCallMsat !== undefined) {
    return `${figure(scaled(Math.max(rule.perCallMsat + (rule.feeMsat ?? 0), rule.minimumMsat ?? 0), multiplierMilli))} msat per call`;
  }
  const tokens = rule.tokens ?? { promptMsatPerToken: 0, completionMsatPerToken: 0 };
  return `${figure(scaled(tokens.promptMsatPerToken, multiplierMilli))} / ${figure(
    scaled(tokens.completionMsatPerToken, multiplierMilli),
  )} msat per prompt / completion token, fee ${figure(scaled(rule.feeMsat ?? 0, multiplierMilli))} msat`;
}

function auditTable(entries: readonly AuditEntry[]): SafeHtml {
  if (entries.length === 0) return html`<p>No price has been changed from the console yet.</p>`;
  return html`<table id="audit"><caption>Price changes, newest first</caption>
<thead><tr><th scope="col">When (UTC)</th><th scope="col">Who</th><th scope="col">Service, rule</th><th scope="col">Old</th><th scope="col">New</th></tr></thead>
<tbody>${entries.map(
    (e) =>
      html`<tr><td>${e.at}</td><td>${e.who}</td><td>${e.service} #${e.rule}</td><td><code>${JSON.stringify(
        e.old,
      )}</code></td><td><code>${JSON.stringify(e.new)}</code></td></tr>`,
  )}</tbody></table>`;
}

export function renderPrices(
  services: readonly ServiceConfig[],
  book: PriceBook,
  audit: readonly AuditEntry[],
  persistedIn: string | undefined,
): SafeHtml {
  const sections = services.map((service) => {
    const pricing = book.pricing(service.name);
    if (!pricing) {
      return html`<section aria-labelledby="svc-${service.name}"><h2 id="svc-${service.name}">${service.name}</h2>
<p>${service.price ? `${figure(service.price.sats)} sats per token (pay once, use until it expires).` : "Free."} Fixed prices change in the config file and apply at the next restart.</p></section>`;
    }
    const multiplierMilli = book.multiplierMilli(service.name);
    return html`<section aria-labelledby="svc-${service.name}"><h2 id="svc-${service.name}">${service.name}</h2>
<p>Surge multiplier now: <strong>${(multiplierMilli / MULTIPLIER_SCALE).toFixed(3)}×</strong>. The first matching rule prices a request.</p>
<table><caption>Rules of ${service.name}</caption>
<thead><tr><th scope="col">#</th><th scope="col">Matches</th><th scope="col">Configured</th><th scope="col">Effective now</th><th scope="col">Change</th></tr></thead>
<tbody>${pricing.rules.map(
      (rule, index) =>
        html`<tr><td>${index}</td><td>${rule.pathPrefix ?? "any path"}${rule.model ? `, model ${rule.model}` : ""}</td><td data-rule="${
          service.name
        }-${index}">${describeRule(rule)}</td><td>${effective(rule, multiplierMilli)}</td><td><a href="/console/prices/${
          service.name
        }/rules/${index}">Edit rule ${index} of ${service.name}</a></td></tr>`,
    )}</tbody></table></section>`;
  });
  const where = persistedIn
    ? html`<p class="notice">Changes made here are written into the config file <code>${persistedIn}</code> (the source of truth), which the gateway also reloads by itself.</p>`
    : html`<p class="notice">This gateway runs without a config file: changes made here apply until the next restart.</p>`;
  return html`${where}${sections}<h2>Audit log</h2>${auditTable(audit)}`;
}

export interface EditorState {
  readonly service: string;
  readonly index: number;
  readonly form: RuleForm;
  readonly sample: SampleRequest;
  readonly version: string;
  readonly csrfToken: string;
  readonly problems?: readonly string[];
  readonly preview?: { before: PreviewQuote; after: PreviewQuote };
}

const field = (id: keyof RuleForm, label: string, value: string, hint = "") =>
  html`<label for="${id}">${label}${hint ? html` <span class="hint">${hint}</span>` : ""}</label><input id="${id}" name="${id}" value="${value}"${
    id.endsWith("Msat") || id.endsWith("Token") ? html` inputmode="numeric"` : ""
  }>`;

const quoteText = (preview: PreviewQuote, when: string, id: string) =>
  preview.ok
    ? html`<p>${when}: <strong data-preview="${id}">${figure(preview.quote.worstCaseMsat)}</strong> msat${
        preview.quote.kind === "tokens"
          ? ` (${preview.quote.promptTokens} prompt tokens + up to ${preview.quote.maxTokens} completion tokens)`
          : ""
      }</p>`
    : html`<p>${when}: <span data-preview="${id}" class="bad">not priced: ${preview.message}</span></p>`;

export function renderEditor(s: EditorState): SafeHtml {
  const f = s.form;
  const action = `/console/prices/${s.service}/rules/${s.index}`;
  return html`${
    s.problems && s.problems.length > 0
      ? html`<div class="error" role="alert" data-code="invalid_rule"><p>The rule was not applied:</p><ul>${s.problems.map(
          (p) => html`<li>${p}</li>`,
        )}</ul></div>`
      : ""
  }${
    s.preview
      ? html`<section class="notice" aria-live="polite" aria-labelledby="preview-h"><h2 id="preview-h">Preview</h2>
${quoteText(s.preview.before, "This request would cost, before", "before")}${quoteText(s.preview.after, "and after the change", "after")}</section>`
      : ""
  }
<form method="post" action="${action}">
<input type="hidden" name="csrf" value="${s.csrfToken}"><input type="hidden" name="version" value="${s.version}">
<fieldset><legend>Rule ${s.index} of ${s.service}</legend>
${field("pathPrefix", "Path prefix", f.pathPrefix, "(blank: any path)")}
${field("model", "Model", f.model, "(blank: any model)")}
<label for="kind">Priced</label><select id="kind" name="kind">
<option value="per_call"${f.kind === "per_call" ? html` selected` : ""}>per call</option>
<option value="tokens"${f.kind === "tokens" ? html` selected` : ""}>per token</option></select>
${field("perCallMsat", "Per call (msat)", f.perCallMsat, "(per call only)")}
${field("promptMsatPerToken", "Per prompt token (msat)", f.promptMsatPerToken, "(per token only)")}
${field("completionMsatPerToken", "Per completion token (msat)", f.completionMsatPerToken, "(per token only)")}
${field("feeMsat", "Fee per call (msat)", f.feeMsat, "(optional)")}
${field("minimumMsat", "Minimum charge (msat)", f.minimumMsat, "(optional)")}</fieldset>
<fieldset><legend>Request to preview</legend>
<label for="samplePath">Path</label><input id="samplePath" name="samplePath" value="${s.sample.path}">
<label for="sampleModel">Model</label><input id="sampleModel" name="sampleModel" value="${s.sample.model}">
<label for="samplePrompt">Prompt <span class="hint">(LLM paths: its tokens are counted by the upstream)</span></label><input id="samplePrompt" name="samplePrompt" value="${s.sample.prompt}">
<label for="sampleMaxTokens">max_tokens <span class="hint">(blank: the service's default)</span></label><input id="sampleMaxTokens" name="sampleMaxTokens" inputmode="numeric" value="${
    s.sample.maxTokens === undefined ? "" : String(s.sample.maxTokens)
  }"></fieldset>
<button type="submit" id="preview" class="secondary" formaction="${action}/preview">Preview</button>
<button type="submit" id="apply">Apply</button></form>
<p><a href="/console/prices">Back to prices</a></p>`;
}
