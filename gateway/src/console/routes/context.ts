import type { Response } from "express";
import type { Logger } from "pino";
import type { GatewayConfig } from "../../config/schema.js";
import type { InvoiceBackend } from "../../lightning/invoices.js";
import type { GatewayMetrics } from "../../metrics/metrics.js";
import type { TrafficRecorder } from "../../metrics/traffic-recorder.js";
import type { PriceBook } from "../../pricing/price-book.js";
import type { RefundLedger } from "../../store/ledger.js";
import type { OwnerReports } from "../../store/owner-reports.js";
import type { AccountReports, Accounts, StoreLifecycle } from "../../store/store.js";
import type { TokenCounters } from "../../upstream/token-counter.js";
import type { AuditLog } from "../audit.js";
import type { PageFrame, Section } from "../layout.js";
import type { PriceEditor } from "../price-editor.js";
import type { ConsoleSession, SessionStore } from "../session.js";

/**
 * What the console reads and changes in the store: tokens (one, a list, charges, revocation), the totals and series
 * of the overview, the token browser, a closed account's refund where the store keeps refunds, and a write probe.
 */
export interface ConsoleStore
  extends Accounts,
    AccountReports,
    Pick<OwnerReports, "browseTokens" | "revenueSeries">,
    Partial<Pick<RefundLedger, "getRefund">>,
    Pick<StoreLifecycle, "ping"> {}

export interface ConsoleParts {
  readonly config: GatewayConfig;
  readonly adminSecret: string;
  readonly store: ConsoleStore;
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

/** What every console route module is built from: the parts, and the objects the router makes once. */
export interface ConsoleContext {
  readonly parts: ConsoleParts;
  readonly sessions: SessionStore;
  readonly audit: AuditLog;
  readonly editor: PriceEditor;
  readonly serviceNames: readonly string[];
}

/** What the session check leaves on a signed-in request's response. */
export interface Locals {
  session: ConsoleSession;
  sessionId: string;
}

export const locals = (res: Response) => res.locals as Locals;

/** The signed-in page frame: the section highlighted, the CSRF token for sign-out, who is signed in. */
export const frame = (res: Response, section: Section | undefined): NonNullable<PageFrame["signedIn"]> => ({
  section,
  csrfToken: locals(res).session.csrfToken,
  who: locals(res).session.who,
});
