import type { NextFunction, Request, Response } from "express";
import type { Logger } from "pino";
import { sendErrorPage } from "./layout.js";
import { type PriceChangeCode, PriceChangeError } from "./price-file.js";
import { frame, type Locals } from "./routes/context.js";

/** A change that names no such service or rule is 404, an invalid one 400, one the file or prices outran 409. */
export const PRICE_CHANGE_STATUS: Readonly<Record<PriceChangeCode, number>> = {
  unknown_service: 404,
  unknown_rule: 404,
  invalid_pricing: 400,
  prices_changed: 409,
  file_differs: 409,
  config_changed: 409,
  config_unreadable: 409,
  rule_not_in_file: 409,
  config_not_writable: 409,
};

/** A path no console route takes, signed in (the session check ran first). */
export function notFound(_req: Request, res: Response): void {
  sendErrorPage(res, 404, "not_found", "No such console page.", frame(res, undefined));
}

/**
 * The console's one answer to what its routes throw: a refused price change as its page (with the session's frame),
 * the body parser's refusals (too large, too many fields, an unknown charset, a bad encoding: a 4xx status) as
 * `bad_form`, anything else logged and answered 500.
 */
export function consoleErrors(log: Logger) {
  return (error: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    if (error instanceof PriceChangeError) {
      const signedIn = (res.locals as Partial<Locals>).session ? frame(res, "prices") : undefined;
      sendErrorPage(res, PRICE_CHANGE_STATUS[error.code], error.code, error.message, signedIn);
      return;
    }
    const status = typeof error === "object" && error !== null && "status" in error ? Number(error.status) : 500;
    if (status >= 400 && status < 500) {
      sendErrorPage(res, status, "bad_form", "The form could not be read; open the page again and resubmit.");
      return;
    }
    log.error({ err: error instanceof Error ? error.message : String(error) }, "console: request failed");
    sendErrorPage(res, 500, "internal_error", "The console could not handle this request; the gateway's log says why.");
  };
}
