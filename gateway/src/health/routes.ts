import type { IncomingMessage, ServerResponse } from "node:http";
import type { GatewayConfig } from "../config/schema.js";
import { sendJson } from "../http/json.js";
import type { InvoiceBackend } from "../lightning/invoices.js";
import type { StoreLifecycle } from "../store/store.js";
import { checkReadiness, type ReadinessReport } from "./readiness.js";

export interface HealthHandlers {
  liveness(req: IncomingMessage, res: ServerResponse): void;
  /** Checks afresh on every call: for the operator listener only. */
  readiness(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** For the public port: one check at a time, its report reused for PUBLIC_READINESS_REUSE_MS. */
  publicReadiness(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/**
 * How long the public /readyz reuses a report. Anyone can call it, and each check asks LND, writes to the store and
 * probes every upstream: reused and never run twice at once, a flood of calls costs them one check a second.
 */
export const PUBLIC_READINESS_REUSE_MS = 1_000;

/** /healthz: the process answers. /readyz: it can take paid traffic; the JSON says which check failed. */
export function healthHandlers(config: GatewayConfig, backend: InvoiceBackend, store: StoreLifecycle): HealthHandlers {
  const check = () => checkReadiness({ backend, store, services: config.services, timeoutMs: 2_000 });
  const send = (res: ServerResponse, report: ReadinessReport, headers: Record<string, string> = {}) => {
    sendJson(res, report.ready ? 200 : 503, report, headers);
  };
  let latest: { report: Promise<ReadinessReport>; finishedAt: number | undefined } | undefined;
  const shared = (): Promise<ReadinessReport> => {
    const fresh =
      latest !== undefined &&
      (latest.finishedAt === undefined || performance.now() - latest.finishedAt < PUBLIC_READINESS_REUSE_MS);
    if (latest && fresh) return latest.report;
    const entry: { report: Promise<ReadinessReport>; finishedAt: number | undefined } = {
      report: check(),
      finishedAt: undefined,
    };
    const finished = () => {
      entry.finishedAt = performance.now();
    };
    entry.report.then(finished, finished);
    latest = entry;
    return entry.report;
  };
  return {
    liveness: (_req, res) => {
      sendJson(res, 200, { status: "ok" });
    },
    readiness: async (_req, res) => send(res, await check()),
    publicReadiness: async (_req, res) => {
      send(res, await shared(), { "cache-control": `max-age=${PUBLIC_READINESS_REUSE_MS / 1000}` });
    },
  };
}
