import express, { type NextFunction, type Request, type Response, type Router } from "express";
import type { Logger } from "pino";
import { z } from "zod";
import type { GatewayConfig } from "../config/schema.js";
import type { InvoiceBackend } from "../lightning/invoices.js";
import { RateLimiter } from "../limits/rate-limiter.js";
import type { GatewayMetrics } from "../metrics/metrics.js";
import type { TrafficRecorder } from "../metrics/traffic-recorder.js";
import type { PriceBook } from "../pricing/price-book.js";
import type { TokenStore } from "../store/store.js";
import type { TokenCounters } from "../upstream/token-counter.js";
import { AuditLog } from "./audit.js";
import { PRICE_CHANGE_STATUS } from "./errors.js";
import { html } from "./html.js";
import {
  CONSOLE_CSS,
  type PageFrame,
  page,
  SECURITY_HEADERS,
  type Section,
  sendErrorPage,
  sendPage,
} from "./layout.js";
import { readOverview, renderOverview } from "./overview.js";
import { PriceEditor, type SampleRequest } from "./price-editor.js";
import { PriceChangeError, PriceFile } from "./price-file.js";
import { renderEditor, renderPrices } from "./prices-page.js";
import { refundOf } from "./refunds.js";
import { readSeries, renderSeries } from "./revenue-series.js";
import { formOf, type RuleForm, ruleFormSchema, ruleFromForm } from "./rule-form.js";
import {
  type ConsoleSession,
  cookieHeader,
  cookieValue,
  randomToken,
  SESSION_COOKIE,
  SessionStore,
  SIGN_IN_COOKIE,
  sameSecret,
} from "./session.js";
import { browseOf, parseTokenQuery } from "./token-query.js";
import { renderSearch, renderToken, renderTokenList } from "./tokens-page.js";

export interface ConsoleParts {
  readonly config: GatewayConfig;
  readonly adminSecret: string;
  readonly store: TokenStore;
  readonly book: PriceBook;
  readonly metrics: GatewayMetrics;
  readonly backend: InvoiceBackend;
  /** The upstreams' token counters, for the preview's prompt tokens. */
  readonly counters: TokenCounters;
  /** Writes this process's latest challenges and calls to the store, so the charts include them. */
  readonly traffic?: Pick<TrafficRecorder, "flush">;
  /** The config file: price changes are written into it. Without one they last until a restart. */
  readonly configPath: string | undefined;
  readonly log: Logger;
  readonly sessions?: SessionStore;
}

/** Sign-in attempts per client address: 5 at once, then one every 10 s. */
const SIGN_IN_BURST = 5;
const SIGN_IN_PER_MINUTE = 6;
const HEX64 = /^[0-9a-f]{64}$/;

const signInSchema = z.object({
  secret: z.string().max(1_024).default(""),
  name: z
    .string()
    .trim()
    .max(40)
    .regex(/^[\p{L}\p{N} ._@-]*$/u, "letters, digits, spaces and . _ @ - only")
    .default(""),
  csrf: z.string().max(128).default(""),
});

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

interface Locals {
  session: ConsoleSession;
  sessionId: string;
}

const locals = (res: Response) => res.locals as Locals;

/**
 * The web console on the admin listener, under /console: sign in with the admin secret, then the overview, prices
 * (edit with preview, audit log) and tokens (search, revoke). Server-rendered HTML, no script.
 */
export function consoleRouter(parts: ConsoleParts): Router {
  const { config, store, book, log } = parts;
  const sessions = parts.sessions ?? new SessionStore();
  const limiter = new RateLimiter(SIGN_IN_PER_MINUTE, SIGN_IN_BURST);
  const file = parts.configPath ? new PriceFile(parts.configPath) : undefined;
  const audit = new AuditLog(parts.configPath ? `${parts.configPath}.console-audit.jsonl` : undefined);
  const editor = new PriceEditor(config.services, book, file, audit, parts.counters);
  const router = express.Router();
  router.use(express.urlencoded({ extended: false, limit: "16kb", parameterLimit: 40 }));

  const secure = (req: Request) => req.secure;
  const clientOf = (req: Request) => req.ip ?? req.socket.remoteAddress ?? "unknown";
  const frame = (res: Response, section: Section | undefined): NonNullable<PageFrame["signedIn"]> => ({
    section,
    csrfToken: locals(res).session.csrfToken,
    who: locals(res).session.who,
  });

  router.get("/console.css", (_req, res) => {
    res
      .set({ ...SECURITY_HEADERS, "cache-control": "max-age=300" })
      .type("css")
      .send(CONSOLE_CSS);
  });

  const signInPage = (req: Request, res: Response, status: number, problem?: string) => {
    const token = randomToken();
    res.append("set-cookie", cookieHeader(SIGN_IN_COOKIE, token, { secure: secure(req), maxAgeSeconds: 600 }));
    sendPage(
      res,
      status,
      page(
        { title: "Sign in" },
        html`${problem ? html`<p class="error" role="alert" data-code="sign_in_refused">${problem}</p>` : ""}
<form method="post" action="/console/sign-in"><input type="hidden" name="csrf" value="${token}">
<label for="secret">Admin secret</label><input id="secret" name="secret" type="password" autocomplete="current-password" required>
<label for="name">Your name <span class="hint">(for the audit log; optional)</span></label><input id="name" name="name" autocomplete="username">
<button type="submit">Sign in</button></form>`,
      ),
    );
  };

  router.get("/sign-in", (req, res) => signInPage(req, res, 200));

  router.post("/sign-in", (req, res) => {
    const wait = limiter.take(clientOf(req));
    if (wait > 0) {
      res.set("retry-after", String(wait));
      sendErrorPage(res, 429, "rate_limited", `Too many sign-in attempts from this address; try again in ${wait} s.`);
      return;
    }
    const form = signInSchema.safeParse(req.body ?? {});
    const expected = cookieValue(req.headers, SIGN_IN_COOKIE);
    if (!form.success || !expected || !sameSecret(form.data.csrf, expected)) {
      sendErrorPage(res, 403, "bad_csrf", "The sign-in form expired or did not come from this console; open it again.");
      return;
    }
    if (!sameSecret(form.data.secret, parts.adminSecret)) {
      log.warn({ client: clientOf(req) }, "console: sign-in with a wrong admin secret");
      signInPage(req, res, 401, "That is not the admin secret.");
      return;
    }
    const who = `${form.data.name || "operator"} (${clientOf(req)})`;
    const { id } = sessions.create(who);
    log.info({ who }, "console: signed in");
    res.append("set-cookie", cookieHeader(SESSION_COOKIE, id, { secure: secure(req) }));
    res.append("set-cookie", cookieHeader(SIGN_IN_COOKIE, "", { secure: secure(req), maxAgeSeconds: 0 }));
    res.redirect(303, "/console/overview");
  });

  // Everything below needs a session; a change also needs the session's CSRF token.
  router.use((req: Request, res: Response, next: NextFunction) => {
    const id = cookieValue(req.headers, SESSION_COOKIE);
    const session = sessions.get(id);
    if (!session || !id) {
      if (req.method === "GET" || req.method === "HEAD") res.redirect(303, "/console/sign-in");
      else sendErrorPage(res, 401, "no_session", "You are not signed in (or the session expired): sign in again.");
      return;
    }
    Object.assign(res.locals, { session, sessionId: id } satisfies Locals);
    if (req.method !== "GET" && req.method !== "HEAD") {
      const submitted = (req.body as { csrf?: unknown } | undefined)?.csrf;
      if (typeof submitted !== "string" || !sameSecret(submitted, session.csrfToken)) {
        sendErrorPage(res, 403, "bad_csrf", "This change did not come from a console page: nothing was done.");
        return;
      }
    }
    next();
  });

  router.get("/", (_req, res) => res.redirect(303, "/console/overview"));

  router.post("/sign-out", (req, res) => {
    sessions.destroy(locals(res).sessionId);
    res.append("set-cookie", cookieHeader(SESSION_COOKIE, "", { secure: secure(req), maxAgeSeconds: 0 }));
    res.redirect(303, "/console/sign-in");
  });

  const serviceNames = config.services.map((s) => s.name);

  router.get("/overview", async (_req, res) => {
    await parts.traffic?.flush();
    const [figures, series] = await Promise.all([
      readOverview({ services: config.services, store, book, metrics: parts.metrics, backend: parts.backend }),
      readSeries(store, serviceNames),
    ]);
    const body = html`${renderOverview(figures)}${renderSeries(series)}`;
    sendPage(res, 200, page({ title: "Overview", signedIn: frame(res, "overview") }, body));
  });

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

  const showEditor = (
    res: Response,
    status: number,
    state: { service: string; index: number; form: RuleForm; sample: SampleRequest; version: string },
    extra: Pick<Parameters<typeof renderEditor>[0], "problems" | "preview"> = {},
  ) => {
    const body = renderEditor({ ...state, ...extra, csrfToken: locals(res).session.csrfToken });
    sendPage(res, status, page({ title: `Edit a price of ${state.service}`, signedIn: frame(res, "prices") }, body));
  };

  router.get("/prices/:service/rules/:index", (req, res) => {
    const found = target(req, res);
    if (!found) return;
    const { service, index, rule } = found;
    const state = { service: service.name, index, form: formOf(rule), sample: sampleFor(service.name) };
    showEditor(res, 200, { ...state, version: editor.version(service.name) });
  });

  /** The posted rule form, sample request and version; problems when a field is malformed. */
  const posted = (req: Request) => {
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
  };

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
    try {
      const entry = editor.apply(change.service, change.index, change.rule, change.version, locals(res).session.who);
      log.info(
        { who: entry.who, service: entry.service, rule: entry.rule, old: entry.old, new: entry.new },
        "console: price changed",
      );
      res.redirect(303, "/console/prices#audit");
    } catch (error) {
      if (!(error instanceof PriceChangeError)) throw error;
      sendErrorPage(res, PRICE_CHANGE_STATUS[error.code], error.code, error.message, frame(res, "prices"));
    }
  });

  router.get("/tokens", async (req, res) => {
    const parsed = parseTokenQuery(req.query as Record<string, unknown>, serviceNames);
    if (!parsed.ok) {
      const message = `The token list cannot show that: ${parsed.problems.join("; ")}.`;
      if (req.accepts(["html", "json"]) === "json") {
        res.status(400).set(SECURITY_HEADERS).json({ code: "invalid_query", message, problems: parsed.problems });
        return;
      }
      sendErrorPage(res, 400, "invalid_query", message, frame(res, "tokens"));
      return;
    }
    const { query } = parsed;
    const search = query.q.trim().toLowerCase();
    const list = await store.browseTokens(browseOf(query));
    const show = (status: number, found?: Parameters<typeof renderSearch>[1], problem?: string) => {
      const body = html`${renderSearch(search, found, problem)}${renderTokenList(query, list, serviceNames)}`;
      sendPage(res, status, page({ title: "Tokens", signedIn: frame(res, "tokens") }, body));
    };
    if (search === "") return show(200);
    if (!HEX64.test(search)) return show(400, undefined, "A token id or payment hash is 64 hexadecimal digits.");
    const byId = await store.getToken(search);
    show(200, byId ? [byId] : await store.listTokens({ paymentHash: search, limit: 10 }));
  });

  const tokenPage = async (res: Response, tokenId: string, notice?: string) => {
    const token = await store.getToken(tokenId);
    if (!token) {
      sendErrorPage(res, 404, "unknown_token", `No token ${tokenId}.`, frame(res, "tokens"));
      return;
    }
    const [charges, refund] = await Promise.all([store.chargesOf(tokenId, 50), refundOf(store, tokenId)]);
    const body = renderToken(token, { charges, refund }, locals(res).session.csrfToken, notice);
    sendPage(res, 200, page({ title: "Token", signedIn: frame(res, "tokens") }, body));
  };

  /** The token id of the URL; undefined once a 400 page has been sent. */
  const tokenIdOf = (req: Request, res: Response) => {
    const tokenId = String(req.params.tokenId);
    if (HEX64.test(tokenId)) return tokenId;
    sendErrorPage(res, 400, "invalid_token_id", "A token id is 64 lowercase hex digits.", frame(res, "tokens"));
    return undefined;
  };

  router.get("/tokens/:tokenId", async (req, res) => {
    const tokenId = tokenIdOf(req, res);
    if (!tokenId) return;
    await tokenPage(res, tokenId);
  });

  router.post("/tokens/:tokenId/revoke", async (req, res) => {
    const tokenId = tokenIdOf(req, res);
    if (!tokenId) return;
    const revoked = await store.revoke(tokenId, new Date());
    if (!revoked) return sendErrorPage(res, 404, "unknown_token", `No token ${tokenId}.`, frame(res, "tokens"));
    log.info({ who: locals(res).session.who, tokenId }, "console: token revoked");
    await tokenPage(res, tokenId, "Revoked: the gateway refuses this token from now on.");
  });

  router.use((_req, res) => {
    sendErrorPage(res, 404, "not_found", "No such console page.", frame(res, undefined));
  });

  router.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    // The body parser's refusals (too large, too many fields, an unknown charset, a bad encoding) carry a 4xx status.
    const status = typeof error === "object" && error !== null && "status" in error ? Number(error.status) : 500;
    if (status >= 400 && status < 500) {
      sendErrorPage(res, status, "bad_form", "The form could not be read; open the page again and resubmit.");
      return;
    }
    log.error({ err: error instanceof Error ? error.message : String(error) }, "console: request failed");
    sendErrorPage(res, 500, "internal_error", "The console could not handle this request; the gateway's log says why.");
  });
  return router;
}
