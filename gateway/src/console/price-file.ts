import { createHash } from "node:crypto";
import { chmodSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { CodedError } from "@l402-gateway/l402";
import { isMap, isSeq, parseDocument } from "yaml";
import { loadConfigFile } from "../config/load.js";
import type { PriceRule, PricingConfig } from "../config/pricing-schema.js";

/** Why a console price change cannot be applied as asked (console/errors.ts gives each code its HTTP status). */
export type PriceChangeCode =
  | "unknown_service"
  | "unknown_rule"
  | "invalid_pricing"
  | "prices_changed"
  | "file_differs"
  | "config_changed"
  | "config_unreadable"
  | "rule_not_in_file"
  | "config_not_writable";

/** The console's change cannot be applied as asked; `code` says why. */
export class PriceChangeError extends CodedError<PriceChangeCode> {
  override readonly name = "PriceChangeError";
}

/**
 * Where a console price change is kept: the gateway's YAML config file. One rule is replaced in place (comments,
 * `${ENV}` references and the rest of the file untouched) and the file is replaced atomically, so the file stays the
 * source of truth and a restart or hot reload keeps the change.
 */
export class PriceFile {
  constructor(readonly path: string) {}

  /** A digest of the file as it is now; a form carries it so a change made since the page loaded is refused. */
  version(): string {
    return versionOf(readFileSync(this.path, "utf8"));
  }

  /** The service's pricing as the file declares it (validated, defaults applied): what a reload would apply. */
  pricing(service: string): PricingConfig | undefined {
    return loadConfigFile(this.path).services.find((s) => s.name === service)?.pricing;
  }

  /**
   * Replaces rule `index` of `service` when the file is still at `expectedVersion`; returns the pricing the file
   * declares afterwards. Throws PriceChangeError (`config_changed`) when the file changed, and restores the old file when the
   * result does not load.
   */
  replaceRule(service: string, index: number, rule: PriceRule, expectedVersion: string): PricingConfig {
    const text = readFileSync(this.path, "utf8");
    if (versionOf(text) !== expectedVersion) {
      throw new PriceChangeError(
        "config_changed",
        `${this.path} changed since this page was loaded (an edit or another console); nothing was applied: reload the page and make the change again`,
      );
    }
    const document = parseDocument(text);
    const services = document.get("services");
    if (!isSeq(services)) throw new PriceChangeError("config_unreadable", `${this.path} has no services list`);
    const position = services.items.findIndex((item) => isMap(item) && item.get("name") === service);
    const rules = document.getIn(["services", position, "pricing", "rules"]);
    if (position < 0 || !isSeq(rules) || index >= rules.items.length) {
      throw new PriceChangeError("rule_not_in_file", `${this.path} has no rule ${index} for service ${service}`);
    }
    document.setIn(["services", position, "pricing", "rules", index], document.createNode(rule));
    this.write(document.toString());
    try {
      const pricing = this.pricing(service);
      if (!pricing) throw new Error(`service ${service} lost its pricing`);
      return pricing;
    } catch (error) {
      this.write(text);
      throw new PriceChangeError(
        "invalid_pricing",
        `the change would make ${this.path} invalid, so it was not applied: ${(error as Error).message}`,
      );
    }
  }

  /**
   * Writes beside the file, keeps its mode (it may hold secrets), then renames over it: readers see old or new. A file
   * that cannot be replaced (a read-only or single-file mount) refuses the change, which then applies nowhere.
   */
  private write(text: string): void {
    const temporary = `${this.path}.console-${process.pid}.tmp`;
    let written = false;
    try {
      const mode = statSync(this.path).mode & 0o777;
      writeFileSync(temporary, text, { mode });
      written = true;
      chmodSync(temporary, mode);
      renameSync(temporary, this.path);
    } catch (error) {
      if (written) rmSync(temporary, { force: true });
      throw new PriceChangeError(
        "config_not_writable",
        `cannot replace ${this.path} (${(error as Error).message}); nothing was applied. The console writes the config file: mount its folder read-write (a single-file mount cannot be replaced), or change prices in the file itself`,
      );
    }
  }
}

export function versionOf(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 32);
}
