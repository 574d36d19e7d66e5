import express, { type NextFunction, type Request, type Response, type Router } from "express";
import { z } from "zod";
import { RateLimiter } from "../../limits/rate-limiter.js";
import { html } from "../html.js";
import { CONSOLE_CSS, page, SECURITY_HEADERS, sendErrorPage, sendPage } from "../layout.js";
import { cookieHeader, cookieValue, randomToken, SESSION_COOKIE, SIGN_IN_COOKIE, sameSecret } from "../session.js";
import { type ConsoleContext, type Locals, locals } from "./context.js";

/** Sign-in attempts per client address: 5 at once, then one every 10 s. */
const SIGN_IN_BURST = 5;
const SIGN_IN_PER_MINUTE = 6;

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

const secure = (req: Request) => req.secure;
const clientOf = (req: Request) => req.ip ?? req.socket.remoteAddress ?? "unknown";

/** What needs no session: the style sheet and signing in. */
export function signInRoutes({ parts, sessions }: ConsoleContext): Router {
  const { log } = parts;
  const limiter = new RateLimiter(SIGN_IN_PER_MINUTE, SIGN_IN_BURST);
  const router = express.Router();

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
  return router;
}

/** Everything after it needs a session; a change also needs the session's CSRF token. */
export function requireSession({ sessions }: ConsoleContext) {
  return (req: Request, res: Response, next: NextFunction) => {
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
  };
}

/** Signing out (a change, so it needs the CSRF token too). */
export function signOutRoutes({ sessions }: ConsoleContext): Router {
  const router = express.Router();
  router.post("/sign-out", (req, res) => {
    sessions.destroy(locals(res).sessionId);
    res.append("set-cookie", cookieHeader(SESSION_COOKIE, "", { secure: secure(req), maxAgeSeconds: 0 }));
    res.redirect(303, "/console/sign-in");
  });
  return router;
}
