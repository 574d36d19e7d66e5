import { z } from "zod";
import { type PriceRule, priceRuleSchema } from "../pricing/schema.js";

/** The fields of the rule editor, as a browser posts them (urlencoded strings). */
export const ruleFormSchema = z.object({
  pathPrefix: z.string().trim().max(200).default(""),
  model: z.string().trim().max(200).default(""),
  kind: z.enum(["per_call", "tokens"]),
  perCallMsat: z.string().trim().max(20).default(""),
  promptMsatPerToken: z.string().trim().max(20).default(""),
  completionMsatPerToken: z.string().trim().max(20).default(""),
  feeMsat: z.string().trim().max(20).default(""),
  minimumMsat: z.string().trim().max(20).default(""),
});

export type RuleForm = z.infer<typeof ruleFormSchema>;

/** The form a rule is edited in, filled with the rule's values. */
export function formOf(rule: PriceRule): RuleForm {
  const text = (value: number | string | undefined) => (value === undefined ? "" : String(value));
  return {
    pathPrefix: text(rule.pathPrefix),
    model: text(rule.model),
    kind: rule.tokens ? "tokens" : "per_call",
    perCallMsat: text(rule.perCallMsat),
    promptMsatPerToken: text(rule.tokens?.promptMsatPerToken),
    completionMsatPerToken: text(rule.tokens?.completionMsatPerToken),
    feeMsat: text(rule.feeMsat),
    minimumMsat: text(rule.minimumMsat),
  };
}

export type RuleParse = { ok: true; rule: PriceRule } | { ok: false; problems: string[] };

/** A blank field is left out; a number field holds digits only; then the pricing schema decides. */
export function ruleFromForm(form: RuleForm): RuleParse {
  const problems: string[] = [];
  const number = (field: keyof RuleForm): number | undefined => {
    const value = form[field];
    if (value === "") return undefined;
    if (!/^\d+$/.test(value)) {
      problems.push(`${field}: a whole number of msat (got ${JSON.stringify(value)})`);
      return undefined;
    }
    return Number(value);
  };
  const candidate = {
    ...(form.pathPrefix === "" ? {} : { pathPrefix: form.pathPrefix }),
    ...(form.model === "" ? {} : { model: form.model }),
    ...(form.kind === "per_call"
      ? { perCallMsat: number("perCallMsat") }
      : {
          tokens: {
            promptMsatPerToken: number("promptMsatPerToken") ?? 0,
            completionMsatPerToken: number("completionMsatPerToken") ?? 0,
          },
        }),
    feeMsat: number("feeMsat"),
    minimumMsat: number("minimumMsat"),
  };
  if (problems.length > 0) return { ok: false, problems };
  const parsed = priceRuleSchema.safeParse(
    Object.fromEntries(Object.entries(candidate).filter(([, value]) => value !== undefined)),
  );
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((issue) => `${issue.path.join(".") || "rule"}: ${issue.message}`),
    };
  }
  return { ok: true, rule: parsed.data };
}
