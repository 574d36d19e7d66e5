import { request } from "undici";
import type { ServiceConfig } from "../config/schema.js";
import { upstreamsOf } from "../config/upstreams.js";
import type { InvoiceBackend } from "../lightning/invoices.js";
import type { StoreLifecycle } from "../store/store.js";

export interface CheckResult {
  readonly ok: boolean;
  readonly error?: string;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: {
    readonly lnd: CheckResult;
    readonly store: CheckResult;
    readonly upstreams: Record<string, CheckResult>;
  };
}

async function check(probe: () => Promise<unknown>): Promise<CheckResult> {
  try {
    await probe();
    return { ok: true };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

async function probeOne(upstream: string, healthPath: string, timeoutMs: number): Promise<void> {
  const url = new URL(healthPath, upstream);
  // undici checks its own timeouts on a coarse tick (a 2 s headersTimeout took 2.5 s here); a timer signal keeps the bound.
  const signal = AbortSignal.timeout(timeoutMs);
  const response = await request(url, { method: "GET", signal }).catch((error: unknown) => {
    throw signal.aborted ? new Error(`${url.pathname} did not answer within ${timeoutMs} ms`) : error;
  });
  await response.body.dump();
  if (response.statusCode >= 500) throw new Error(`${url.pathname} answered ${response.statusCode}`);
}

/** A service is ready when any upstream of its pool answers its health path below 500. */
async function probeUpstream(service: ServiceConfig, timeoutMs: number): Promise<void> {
  await Promise.any(upstreamsOf(service).map((upstream) => probeOne(upstream, service.healthPath, timeoutMs))).catch(
    (error: unknown) => {
      const first = error instanceof AggregateError ? error.errors[0] : error;
      throw first instanceof Error ? first : new Error(String(first));
    },
  );
}

/** Ready when LND answers, the store takes a write, and at least one upstream is healthy. */
export async function checkReadiness(parts: {
  backend: InvoiceBackend;
  store: Pick<StoreLifecycle, "ping">;
  services: readonly ServiceConfig[];
  timeoutMs: number;
}): Promise<ReadinessReport> {
  const [lnd, store, ...upstreamResults] = await Promise.all([
    check(() => parts.backend.ping()),
    check(() => parts.store.ping()),
    ...parts.services.map((service) => check(() => probeUpstream(service, parts.timeoutMs))),
  ]);
  const upstreams = Object.fromEntries(
    parts.services.map((service, i) => [service.name, upstreamResults[i] ?? { ok: false }]),
  );
  const anyUpstream = Object.values(upstreams).some((result) => result.ok);
  return {
    ready: Boolean(lnd?.ok && store?.ok && anyUpstream),
    checks: { lnd: lnd ?? { ok: false }, store: store ?? { ok: false }, upstreams },
  };
}
