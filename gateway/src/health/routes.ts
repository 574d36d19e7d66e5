import type { Request, Response } from "express";
import type { GatewayConfig } from "../config/schema.js";
import type { InvoiceBackend } from "../lightning/invoices.js";
import type { TokenStore } from "../store/store.js";
import { checkReadiness } from "./readiness.js";

export interface HealthHandlers {
  liveness(req: Request, res: Response): void;
  readiness(req: Request, res: Response): Promise<void>;
}

/** /healthz: the process answers. /readyz: it can take paid traffic; the JSON says which check failed. */
export function healthHandlers(config: GatewayConfig, backend: InvoiceBackend, store: TokenStore): HealthHandlers {
  return {
    liveness: (_req, res) => {
      res.status(200).json({ status: "ok" });
    },
    readiness: async (_req, res) => {
      const report = await checkReadiness({ backend, store, services: config.services, timeoutMs: 2_000 });
      res.status(report.ready ? 200 : 503).json(report);
    },
  };
}
