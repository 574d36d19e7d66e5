import { readFileSync } from "node:fs";
import { upstreamKindProblems } from "../config/kind-rules.js";
import { type PriceRule, type PricingConfig, pricingSchema } from "../config/pricing-schema.js";
import type { ServiceConfig } from "../config/schema.js";
import { canonicalTarget } from "../http/canonical-target.js";
import { type LlmRequest, llmKindOf, parseLlmRequest } from "../llm/llm-request.js";
import type { PriceBook } from "../pricing/price-book.js";
import { ConfiguredPricer, type Pricer, type PriceSource } from "../pricing/pricer.js";
import type { Quote } from "../pricing/quote.js";
import type { TokenCounters } from "../upstream/token-counter.js";
import type { AuditEntry, AuditLog } from "./audit.js";
import { PriceChangeError, type PriceFile, versionOf } from "./price-file.js";

/** A request to price in the preview: what an agent would send. */
export interface SampleRequest {
  readonly path: string;
  readonly model: string;
  readonly prompt: string;
  readonly maxTokens: number | undefined;
}

export type PreviewQuote = { ok: true; quote: Quote } | { ok: false; message: string };

/**
 * Reads and changes one rule of a metered service's pricing for the console: a version that covers the config file
 * and the live prices, a preview through the gateway's own pricer, and apply (file first, then the live prices).
 */
export class PriceEditor {
  constructor(
    private readonly services: readonly ServiceConfig[],
    private readonly book: PriceBook,
    private readonly file: PriceFile | undefined,
    private readonly audit: AuditLog,
    private readonly counters: TokenCounters,
  ) {}

  get persistedIn(): string | undefined {
    return this.file?.path;
  }

  meteredService(name: string): ServiceConfig | undefined {
    return this.services.find((s) => s.name === name && s.pricing !== undefined);
  }

  rule(service: string, index: number): PriceRule | undefined {
    return this.book.pricing(service)?.rules[index];
  }

  /**
   * Changes whenever the file or the service's live prices change (an edit, a hot reload, the admin API, another
   * console): a form posted with an older version is refused.
   */
  version(service: string): string {
    const fileText = this.file ? readFileSync(this.file.path, "utf8") : "";
    return versionOf(`${versionOf(fileText)}\n${JSON.stringify(this.book.pricing(service) ?? null)}`);
  }

  async preview(service: ServiceConfig, index: number, rule: PriceRule, sample: SampleRequest) {
    const live = this.book.pricing(service.name);
    if (!live) throw new PriceChangeError("unknown_service", `no metered service named ${service.name}`);
    const proposed = withRule(live, index, rule);
    const after: PriceSource = {
      pricing: (name) => (name === service.name ? proposed : this.book.pricing(name)),
      multiplierMilli: (name) => this.book.multiplierMilli(name),
    };
    return {
      before: await this.quote(new ConfiguredPricer(this.book, this.counters), service, live, sample),
      after: await this.quote(new ConfiguredPricer(after, this.counters), service, proposed, sample),
    };
  }

  private async quote(pricer: Pricer, service: ServiceConfig, pricing: PricingConfig, sample: SampleRequest) {
    let path: string;
    let llm: LlmRequest | undefined;
    try {
      path = canonicalTarget(sample.path).key;
      const kind = llmKindOf("POST", path);
      if (kind) {
        const body = {
          model: sample.model || undefined,
          ...(kind === "chat" ? { messages: [{ role: "user", content: sample.prompt }] } : { prompt: sample.prompt }),
          ...(sample.maxTokens === undefined ? {} : { max_tokens: sample.maxTokens }),
        };
        const headers = { "content-type": "application/json" };
        llm = parseLlmRequest(kind, headers, Buffer.from(JSON.stringify(body)), pricing);
      }
      return { ok: true, quote: await pricer.quote(service, { method: "POST", path }, llm) } as const;
    } catch (error) {
      return { ok: false, message: (error as Error).message } as const;
    }
  }

  /** Applies a rule when the prices are still at `version`; returns the audit entry written. */
  apply(service: ServiceConfig, index: number, rule: PriceRule, version: string, who: string): AuditEntry {
    const live = this.book.pricing(service.name);
    const old = live?.rules[index];
    if (!live || !old) throw new PriceChangeError("unknown_rule", `${service.name} has no rule ${index}`);
    if (version !== this.version(service.name)) {
      throw new PriceChangeError(
        "prices_changed",
        `the prices of ${service.name} or the config file changed since this page was loaded (a hot reload, the admin API or another console); nothing was applied: reload the page and make the change again`,
      );
    }
    const checked = pricingSchema.safeParse(withRule(live, index, rule));
    if (!checked.success) {
      const problems = checked.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ");
      throw new PriceChangeError("invalid_pricing", problems);
    }
    const kindProblems = upstreamKindProblems(service, checked.data);
    if (kindProblems.length > 0) {
      const problems = kindProblems.map((p) => `${p.path.join(".")}: ${p.message}`).join("; ");
      throw new PriceChangeError("invalid_pricing", problems);
    }
    let next = checked.data;
    if (this.file) {
      if (JSON.stringify(this.file.pricing(service.name)) !== JSON.stringify(live)) {
        throw new PriceChangeError(
          "file_differs",
          `the live prices of ${service.name} differ from ${this.file.path} (changed through the admin API); writing the file would undo that change: put those prices in the file first`,
        );
      }
      next = this.file.replaceRule(service.name, index, rule, this.file.version());
    }
    this.book.update(service, next, "admin");
    const entry: AuditEntry = {
      at: new Date().toISOString(),
      who,
      service: service.name,
      rule: index,
      old,
      new: rule,
      persisted: this.file?.path ?? null,
    };
    this.audit.append(entry);
    return entry;
  }
}

function withRule(pricing: PricingConfig, index: number, rule: PriceRule): PricingConfig {
  return { ...pricing, rules: pricing.rules.map((r, i) => (i === index ? rule : r)) };
}
