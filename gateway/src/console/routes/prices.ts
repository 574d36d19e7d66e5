import express, { type Request, type Response, type Router } from "express";
import { z } from "zod";
import { page, sendErrorPage, sendPage } from "../layout.js";
import type { SampleRequest } from "../price-editor.js";
import { renderEditor, renderPrices } from "../prices-page.js";
import { formOf, type RuleForm, ruleFormSchema, ruleFromForm } from "../rule-form.js";
import { type ConsoleContext, frame, locals } from "./context.js";

const sampleSchema = z.object({
  samplePath: z.string().trim().max(500).default("/"),
  sampleModel: z.string().trim().max(200).default(""),
  samplePrompt: z.string().max(4_000).default("Hello"),
  sampleMaxTokens: z
    .string()
    .trim()
    .regex(/^\d{0,7}$/, "max_tokens: a whole number")
    .default(""),
});

interface EditorState {
  service: string;
  index: number;
  form: RuleForm;
  sample: SampleRequest;
  version: string;
}

/** The posted rule form, sample request and version; problems when a field is malformed. */
function posted(req: Request) {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const form = ruleFormSchema.safeParse(body);
  const sample = sampleSchema.safeParse(body);
  const version = typeof body.version === "string" ? body.version : "";
  const problems = [
    ...(form.success ? [] : form.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`)),
    ...(sample.success ? [] : sample.error.issues.map((i) => i.message)),
  ];
  const sampleRequest: SampleRequest = sample.success
    ? {
        path: sample.data.samplePath || "/",
        model: sample.data.sampleModel,
        prompt: sample.data.samplePrompt,
        maxTokens: sample.data.sampleMaxTokens === "" ? undefined : Number(sample.data.sampleMaxTokens),
      }
    : { path: "/", model: "", prompt: "Hello", maxTokens: undefined };
  return { form: form.success ? form.data : undefined, sample: sampleRequest, version, problems };
}

function showEditor(
  res: Response,
  status: number,
  state: EditorState,
  extra: Pick<Parameters<typeof renderEditor>[0], "problems" | "preview"> = {},
) {
  const body = renderEditor({ ...state, ...extra, csrfToken: locals(res).session.csrfToken });
  sendPage(res, status, page({ title: `Edit a price of ${state.service}`, signedIn: frame(res, "prices") }, body));
}

/**
 * Prices: the list with the audit log, one rule's editor, its preview and applying it. A change the editor refuses
 * throws PriceChangeError, which the console's error handler answers (console/errors.ts).
 */
export function priceRoutes({ parts, audit, editor }: ConsoleContext): Router {
  const { config, book, log } = parts;
  const router = express.Router();

  router.get("/prices", (_req, res) => {
    const body = renderPrices(config.services, book, audit.recent(), editor.persistedIn);
    sendPage(res, 200, page({ title: "Prices", signedIn: frame(res, "prices") }, body));
  });

  /** The service and rule of an editor URL, or an error page. */
  const target = (req: Request, res: Response) => {
    const service = editor.meteredService(String(req.params.service));
    const index = Number(req.params.index);
    const rule = service && Number.isInteger(index) ? editor.rule(service.name, index) : undefined;
    if (!service || !rule) {
      sendErrorPage(res, 404, "unknown_rule", "No such metered service or rule.", frame(res, "prices"));
      return undefined;
    }
    return { service, index, rule };
  };

  const sampleFor = (service: string): SampleRequest => {
    const prefix = config.services.find((s) => s.name === service)?.match.pathPrefix ?? "/";
    return { path: prefix, model: "", prompt: "Hello", maxTokens: undefined };
  };

  router.get("/prices/:service/rules/:index", (req, res) => {
    const found = target(req, res);
    if (!found) return;
    const { service, index, rule } = found;
    const state = { service: service.name, index, form: formOf(rule), sample: sampleFor(service.name) };
    showEditor(res, 200, { ...state, version: editor.version(service.name) });
  });

  /** The target rule, the editor's state and the posted rule; undefined once an error page has been sent. */
  const postedRule = (req: Request, res: Response) => {
    const found = target(req, res);
    if (!found) return undefined;
    const { form, sample, version, problems } = posted(req);
    const state = {
      service: found.service.name,
      index: found.index,
      form: form ?? formOf(found.rule),
      sample,
      version,
    };
    const parsed = form ? ruleFromForm(form) : undefined;
    if (!parsed?.ok) {
      showEditor(res, 400, state, { problems: [...problems, ...(parsed && !parsed.ok ? parsed.problems : [])] });
      return undefined;
    }
    return { ...found, state, rule: parsed.rule, sample, version };
  };

  router.post("/prices/:service/rules/:index/preview", async (req, res) => {
    const change = postedRule(req, res);
    if (!change) return;
    const preview = await editor.preview(change.service, change.index, change.rule, change.sample);
    showEditor(res, 200, change.state, { preview });
  });

  router.post("/prices/:service/rules/:index", (req, res) => {
    const change = postedRule(req, res);
    if (!change) return;
    const entry = editor.apply(change.service, change.index, change.rule, change.version, locals(res).session.who);
    log.info(
      { who: entry.who, service: entry.service, rule: entry.rule, old: entry.old, new: entry.new },
      "console: price changed",
    );
    res.redirect(303, "/console/prices#audit");
  });
  return router;
}
