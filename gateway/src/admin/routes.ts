import express, { type NextFunction, type Request, type Response, type Router } from "express";
import { z } from "zod";
import { upstreamKindProblems } from "../config/kind-rules.js";
import { pricingSchema } from "../config/pricing-schema.js";
import type { GatewayConfig } from "../config/schema.js";
import { sendJsonError } from "../http/errors.js";
import type { PriceBook } from "../pricing/price-book.js";
import type { RefundLedger, RefundRecord } from "../store/ledger.js";
import type { AccountReports, Accounts, TokenRecord } from "../store/store.js";
import { requireAdminSecret } from "./auth.js";
import { ADMIN_OPENAPI } from "./openapi.js";

const tokenQuerySchema = z
  .object({
    status: z.enum(["issued", "paid", "revoked"]).optional(),
    service: z.string().max(63).optional(),
    limit: z.coerce.number().int().min(1).max(1_000).default(100),
  })
  .strict();

const tokenIdSchema = z.string().regex(/^[0-9a-f]{64}$/, "a token id is 64 lowercase hex digits");

const refundQuerySchema = z
  .object({
    status: z.enum(["pending", "succeeded", "failed", "skipped"]).optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  })
  .strict();

/** A refund as the admin API shows it; the invoice is the agent's, so it is shown (it reveals no secret). */
export function describeRefund(refund: RefundRecord): Record<string, unknown> {
  return {
    token_id: refund.tokenId,
    service: refund.service,
    amount_msat: refund.amountMsat,
    status: refund.status,
    fee_msat: refund.feeMsat,
    attempts: refund.attempts,
    invoice: refund.invoice,
    payment_hash: refund.paymentHash,
    error: refund.error ?? null,
    created_at: refund.createdAt.toISOString(),
    updated_at: refund.updatedAt.toISOString(),
  };
}

export function describeToken(token: TokenRecord): Record<string, unknown> {
  return {
    token_id: token.tokenId,
    service: token.service,
    status: token.status,
    metered: token.metered,
    price_sats: token.priceSats,
    balance_msat: token.account.balanceMsat,
    reserved_msat: token.account.reservedMsat,
    credited_msat: token.account.creditedMsat,
    charged_msat: token.account.chargedMsat,
    refunded_msat: token.account.refundedMsat,
    scheme: token.scheme,
    requests: token.account.requests,
    payment_hash: token.paymentHash,
    created_at: token.createdAt.toISOString(),
    valid_until: token.validUntil.toISOString(),
    paid_at: token.paidAt?.toISOString() ?? null,
    revoked_at: token.revokedAt?.toISOString() ?? null,
  };
}

function zodMessage(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`).join("; ");
}

/** The owner's API: read and change prices, list and revoke tokens, read revenue. JSON in and out. */
export function adminRouter(
  config: GatewayConfig,
  secret: string,
  book: PriceBook,
  store: Accounts & AccountReports & RefundLedger,
): Router {
  const router = express.Router();
  router.use(requireAdminSecret(secret));
  router.use(express.json({ limit: "64kb" }));

  router.get("/admin/openapi.json", (_req, res) => {
    res.json(ADMIN_OPENAPI);
  });

  router.get("/admin/prices", (_req, res) => {
    res.json({ services: Object.fromEntries(book.services().map((name) => [name, book.pricing(name)])) });
  });

  router.put("/admin/prices/:service", (req: Request, res: Response) => {
    const service = config.services.find((s) => s.name === req.params.service);
    if (!service?.pricing) {
      sendJsonError(res, 404, "unknown_service", `no metered service named ${String(req.params.service)}`);
      return;
    }
    const parsed = pricingSchema.safeParse(req.body);
    if (!parsed.success) {
      sendJsonError(res, 400, "invalid_pricing", zodMessage(parsed.error));
      return;
    }
    const problems = upstreamKindProblems(service, parsed.data);
    if (problems.length > 0) {
      sendJsonError(res, 400, "invalid_pricing", problems.map((p) => `${p.path.join(".")}: ${p.message}`).join("; "));
      return;
    }
    book.update(service, parsed.data, "admin");
    res.json({ service: service.name, pricing: book.pricing(service.name) });
  });

  router.get("/admin/tokens", async (req: Request, res: Response) => {
    const query = tokenQuerySchema.safeParse(req.query);
    if (!query.success) {
      sendJsonError(res, 400, "invalid_query", zodMessage(query.error));
      return;
    }
    const tokens = await store.listTokens(query.data);
    res.json({ tokens: tokens.map(describeToken) });
  });

  router.post("/admin/tokens/:tokenId/revoke", async (req: Request, res: Response) => {
    const tokenId = tokenIdSchema.safeParse(req.params.tokenId);
    if (!tokenId.success) {
      sendJsonError(res, 400, "invalid_token_id", zodMessage(tokenId.error));
      return;
    }
    const revoked = await store.revoke(tokenId.data, new Date());
    if (!revoked) {
      sendJsonError(res, 404, "unknown_token", `no token ${tokenId.data}`);
      return;
    }
    res.json(describeToken(revoked));
  });

  router.get("/admin/refunds", async (req: Request, res: Response) => {
    const query = refundQuerySchema.safeParse(req.query);
    if (!query.success) {
      sendJsonError(res, 400, "invalid_query", zodMessage(query.error));
      return;
    }
    const refunds = await store.listRefunds(query.data);
    res.json({ refunds: refunds.map(describeRefund) });
  });

  router.get("/admin/revenue", async (_req, res) => {
    const [payments, charges] = await Promise.all([store.paymentsByService(), store.revenueByModel()]);
    res.json({
      payments: payments.map((p) => ({ service: p.service, sats: p.sats, invoices: p.invoices })),
      charges: charges.map((c) => ({
        service: c.service,
        model: c.model,
        charged_msat: c.chargedMsat,
        requests: c.requests,
      })),
    });
  });

  router.use((req, res) => {
    sendJsonError(res, 404, "not_found", `no admin endpoint ${req.method} ${req.path}`);
  });

  router.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const type = typeof error === "object" && error !== null && "type" in error ? error.type : undefined;
    if (type === "entity.parse.failed") sendJsonError(res, 400, "invalid_json", "the request body is not valid JSON");
    else if (type === "entity.too.large") sendJsonError(res, 413, "body_too_large", "the request body is too large");
    else sendJsonError(res, 500, "internal_error", "the admin API could not handle this request");
  });
  return router;
}
