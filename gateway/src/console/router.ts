import express, { type Router } from "express";
import { AuditLog } from "./audit.js";
import { consoleErrors, notFound } from "./errors.js";
import { PriceEditor } from "./price-editor.js";
import { PriceFile } from "./price-file.js";
import type { ConsoleContext, ConsoleParts } from "./routes/context.js";
import { overviewRoutes } from "./routes/overview.js";
import { priceRoutes } from "./routes/prices.js";
import { requireSession, signInRoutes, signOutRoutes } from "./routes/sign-in.js";
import { tokenRoutes } from "./routes/tokens.js";
import { SessionStore } from "./session.js";

export type { ConsoleParts, ConsoleStore } from "./routes/context.js";

/**
 * The web console on the admin listener, under /console: sign in with the admin secret, then the overview, prices
 * (edit with preview, audit log) and tokens (search, revoke). Server-rendered HTML, no script. Each section is a
 * route module (routes/); what they throw is answered in one place (errors.ts).
 */
export function consoleRouter(parts: ConsoleParts): Router {
  const file = parts.configPath ? new PriceFile(parts.configPath) : undefined;
  const audit = new AuditLog(parts.configPath ? `${parts.configPath}.console-audit.jsonl` : undefined);
  const context: ConsoleContext = {
    parts,
    sessions: parts.sessions ?? new SessionStore(),
    audit,
    editor: new PriceEditor(parts.config.services, parts.book, file, audit, parts.counters),
    serviceNames: parts.config.services.map((s) => s.name),
  };
  const router = express.Router();
  router.use(express.urlencoded({ extended: false, limit: "16kb", parameterLimit: 40 }));
  router.use(signInRoutes(context));
  router.use(requireSession(context));
  router.use(signOutRoutes(context), overviewRoutes(context), priceRoutes(context), tokenRoutes(context));
  router.use(notFound);
  router.use(consoleErrors(parts.log));
  return router;
}
