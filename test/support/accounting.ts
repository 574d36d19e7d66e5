import Database from "better-sqlite3";
import { type AuthenticatedLnd, getInvoice, getPayment, getPayments, getPendingPayments } from "lightning";

export interface AccountingTotals {
  /** Sats LND received for invoices this gateway issued (tokens and top-ups). */
  readonly settledSats: number;
  /** Msat credited to metered balances plus sats of paid access tokens × 1000. */
  readonly creditedMsat: number;
  readonly chargedMsat: number;
  readonly balanceMsat: number;
  readonly reservedMsat: number;
  /** Moved out of closed accounts' balances to be paid back (succeeded, pending or failed). */
  readonly refundedMsat: number;
  /** Refunds LND reports paid. */
  readonly refundsPaidMsat: number;
  /** What alice's payments list shows she paid (succeeded) to the refund invoices of closed accounts. */
  readonly refundPaymentsMsat: number;
  /** Charges for calls that reached the upstream and were answered (usage, partial, fixed, no_usage). */
  readonly servedCharges: number;
}

export interface AccountingVerdict {
  readonly ok: boolean;
  readonly violations: string[];
  readonly totals: AccountingTotals;
}

interface TokenRow {
  token_id: string;
  payment_hash: string;
  price_sats: number;
  status: string;
  metered: number;
  paid_at: number | null;
  balance_msat: number;
  reserved_msat: number;
  credited_msat: number;
  charged_msat: number;
  refunded_msat: number;
}

interface ClaimRow {
  payment_hash: string;
  kind: "charge" | "open" | "topup";
  token_id: string | null;
  sats: number;
}

interface RefundRow {
  token_id: string;
  amount_msat: number;
  payment_hash: string;
  status: string;
}

interface TopUpRow {
  payment_hash: string;
  token_id: string;
  sats: number;
  status: string;
}

export interface AccountingInputs {
  /** The gateway's SQLite store (read only; the gateway may keep running). */
  readonly storePath: string;
  /** The operator's node, which issued the invoices. */
  readonly lnd: AuthenticatedLnd;
  /** Requests the upstream answered, when the test counted them: each must have been charged on a paid token. */
  readonly upstreamServed?: number;
  /**
   * Balance refusals the agents saw (402 insufficient_balance): each must show a balance below the price it asked,
   * so no token with enough balance was refused.
   */
  readonly refusals?: readonly { readonly balanceMsat: number; readonly priceMsat: number }[];
  /** True when no request is in flight: then no reservation may be left. */
  readonly quiescent?: boolean;
}

/**
 * The accounting invariant, from the store and LND: settled invoices = credits (L402 tokens and top-ups, Payment
 * charges, sessions and their top-ups); per token, credits = charges + balance + reservations + refunded, and the
 * charges ledger adds up; each refund equals what its account moved out, and a refund recorded succeeded is a payment
 * LND made once, of exactly that amount; no settlement LND knows of is missing from the store; no
 * request was served without a charge on a paid token; no token with enough balance was refused. And from LND's own
 * payments list (see checkRefundPayments): what the node paid, or is paying, to an account's refund invoices never
 * exceeds what the account was owed, and a refund the store calls succeeded is one payment LND made.
 */
export async function checkAccounting(inputs: AccountingInputs): Promise<AccountingVerdict> {
  const db = new Database(inputs.storePath, { readonly: true, fileMustExist: true });
  const violations: string[] = [];
  try {
    const tokens = db.prepare("SELECT * FROM tokens").all() as TokenRow[];
    const topUps = db.prepare("SELECT * FROM topups").all() as TopUpRow[];
    const claims = db.prepare("SELECT * FROM payment_claims").all() as ClaimRow[];
    const refunds = db.prepare("SELECT * FROM refunds").all() as RefundRow[];
    const chargesByToken = new Map(
      (
        db.prepare("SELECT token_id, SUM(amount_msat) AS msat FROM charges GROUP BY token_id").all() as {
          token_id: string;
          msat: number;
        }[]
      ).map((row) => [row.token_id, row.msat]),
    );
    const servedCharges = (
      db
        .prepare("SELECT COUNT(*) AS n FROM charges WHERE reason IN ('usage', 'partial', 'fixed', 'no_usage')")
        .get() as { n: number }
    ).n;
    const unpaidCharges = (
      db
        .prepare("SELECT COUNT(*) AS n FROM charges c JOIN tokens t USING (token_id) WHERE t.paid_at IS NULL")
        .get() as { n: number }
    ).n;
    if (unpaidCharges > 0) violations.push(`${unpaidCharges} charges on tokens never paid`);

    let settledSats = 0;
    const invoices = [
      ...tokens.map((t) => ({
        hash: t.payment_hash,
        sats: t.price_sats,
        paid: t.paid_at !== null,
        label: `token ${t.token_id.slice(0, 8)}`,
      })),
      ...topUps.map((u) => ({
        hash: u.payment_hash,
        sats: u.sats,
        paid: u.status === "paid",
        label: `top-up of ${u.token_id.slice(0, 8)}`,
      })),
      // A session's deposit is its token's own invoice (above); charges and session top-ups are claims.
      ...claims
        .filter((c) => c.kind !== "open")
        .map((c) => ({
          hash: c.payment_hash,
          sats: c.sats,
          paid: true,
          label: `Payment ${c.kind} ${c.payment_hash.slice(0, 8)}`,
        })),
    ];
    for (const invoice of invoices) {
      const onLnd = await getInvoice({ lnd: inputs.lnd, id: invoice.hash });
      if (onLnd.is_confirmed) settledSats += onLnd.received;
      if (onLnd.is_confirmed && !invoice.paid) violations.push(`${invoice.label}: settled on LND but not credited`);
      if (!onLnd.is_confirmed && invoice.paid) violations.push(`${invoice.label}: credited but not settled on LND`);
      if (onLnd.is_confirmed && onLnd.received !== invoice.sats) {
        violations.push(`${invoice.label}: LND received ${onLnd.received} sats, the store expected ${invoice.sats}`);
      }
    }

    let creditedMsat = 0;
    let chargedMsat = 0;
    let balanceMsat = 0;
    let reservedMsat = 0;
    let refundedMsat = 0;
    for (const token of tokens) {
      const label = `token ${token.token_id.slice(0, 8)}`;
      const paidTopUps = topUps.filter((u) => u.token_id === token.token_id && u.status === "paid");
      const sessionTopUps = claims.filter((c) => c.kind === "topup" && c.token_id === token.token_id);
      const expectedCredit =
        token.paid_at === null
          ? 0
          : token.price_sats * 1000 +
            paidTopUps.reduce((sum, u) => sum + u.sats * 1000, 0) +
            sessionTopUps.reduce((sum, c) => sum + c.sats * 1000, 0);
      if (token.metered === 1) {
        if (token.credited_msat !== expectedCredit) {
          violations.push(`${label}: credited ${token.credited_msat} msat, its paid invoices make ${expectedCredit}`);
        }
        const accounted = token.balance_msat + token.reserved_msat + token.charged_msat + token.refunded_msat;
        if (token.credited_msat !== accounted) {
          violations.push(
            `${label}: credited ${token.credited_msat} ≠ balance ${token.balance_msat} + reserved ${token.reserved_msat} + charged ${token.charged_msat} + refunded ${token.refunded_msat}`,
          );
        }
        const refund = refunds.find((r) => r.token_id === token.token_id);
        if ((refund?.amount_msat ?? 0) !== token.refunded_msat) {
          violations.push(
            `${label}: refunded ${token.refunded_msat} msat, its refund row says ${refund?.amount_msat ?? 0}`,
          );
        }
        const ledger = chargesByToken.get(token.token_id) ?? 0;
        if (ledger !== token.charged_msat)
          violations.push(`${label}: charged ${token.charged_msat}, ledger says ${ledger}`);
        if (token.balance_msat < 0) violations.push(`${label}: negative balance ${token.balance_msat}`);
        creditedMsat += token.credited_msat;
        chargedMsat += token.charged_msat;
        balanceMsat += token.balance_msat;
        reservedMsat += token.reserved_msat;
        refundedMsat += token.refunded_msat;
      } else {
        creditedMsat += expectedCredit;
      }
    }
    creditedMsat += claims.filter((c) => c.kind === "charge").reduce((sum, c) => sum + c.sats * 1000, 0);
    let refundsPaidMsat = 0;
    for (const refund of refunds.filter((r) => r.amount_msat > 0)) {
      const label = `refund of ${refund.token_id.slice(0, 8)}`;
      const sent = await getPayment({ lnd: inputs.lnd, id: refund.payment_hash }).catch(() => undefined);
      const paidMsat = sent?.is_confirmed
        ? Number(sent.payment?.mtokens ?? 0) - Number(sent.payment?.fee_mtokens ?? 0)
        : 0;
      if (sent?.is_confirmed) refundsPaidMsat += paidMsat;
      if (refund.status === "succeeded" && !sent?.is_confirmed)
        violations.push(`${label}: recorded paid, LND has no such payment`);
      if (sent?.is_confirmed && refund.status !== "succeeded" && inputs.quiescent) {
        violations.push(`${label}: LND paid it, the store says ${refund.status}`);
      }
      if (sent?.is_confirmed && paidMsat !== refund.amount_msat) {
        violations.push(`${label}: LND paid ${paidMsat} msat, the refund was ${refund.amount_msat}`);
      }
    }
    const refundPaymentsMsat = await checkRefundPayments(db, inputs.lnd, refunds, violations);
    if (settledSats * 1000 !== creditedMsat) {
      violations.push(`LND settled ${settledSats} sats but ${creditedMsat} msat were credited`);
    }
    if (inputs.quiescent) {
      const open = (db.prepare("SELECT COUNT(*) AS n FROM reservations").get() as { n: number }).n;
      if (open > 0 || reservedMsat > 0) violations.push(`${open} reservations (${reservedMsat} msat) left while idle`);
    }
    if (inputs.upstreamServed !== undefined && inputs.upstreamServed !== servedCharges) {
      violations.push(`the upstream answered ${inputs.upstreamServed} requests, ${servedCharges} were charged`);
    }
    for (const refusal of inputs.refusals ?? []) {
      if (refusal.balanceMsat >= refusal.priceMsat) {
        violations.push(`refused for balance ${refusal.balanceMsat} msat although the price was ${refusal.priceMsat}`);
      }
    }
    return {
      ok: violations.length === 0,
      violations,
      totals: {
        settledSats,
        creditedMsat,
        chargedMsat,
        balanceMsat,
        reservedMsat,
        refundedMsat,
        refundsPaidMsat,
        refundPaymentsMsat,
        servedCharges,
      },
    };
  } finally {
    db.close();
  }
}

/** One payment in the node's payments list: `mtokens` is what reached the payee (fees excluded). */
interface NodePayment {
  readonly id: string;
  readonly mtokens: string;
}

/** Every payment the node made (succeeded) and has in flight, from LND's payments list, page by page. */
export async function nodePayments(lnd: AuthenticatedLnd): Promise<{ paid: NodePayment[]; inFlight: NodePayment[] }> {
  const paid: NodePayment[] = [];
  let page = await getPayments({ lnd, limit: 500 });
  paid.push(...page.payments);
  while (page.next) {
    page = await getPayments({ lnd, token: page.next });
    paid.push(...page.payments);
  }
  const inFlight: NodePayment[] = [];
  let pending = await getPendingPayments({ lnd, limit: 500 });
  inFlight.push(...pending.payments);
  while (pending.next) {
    pending = await getPendingPayments({ lnd, token: pending.next });
    inFlight.push(...pending.payments);
  }
  return { paid, inFlight };
}

/**
 * The refund invariant as LND itself sees it. Alice's payments are matched to accounts by payment hash, through every
 * invoice an account's refund was ever to be paid to (the store's `refund_invoices`, or the refund's own hash in a
 * store older than that table). Per account: paid plus in flight never exceeds what it was owed; at most one payment
 * is in flight or paid; a refund recorded succeeded is exactly one payment LND made, to the refund's recorded hash.
 * Returns the msat paid to refund invoices.
 */
async function checkRefundPayments(
  db: Database.Database,
  lnd: AuthenticatedLnd,
  refunds: readonly RefundRow[],
  violations: string[],
): Promise<number> {
  const hasInvoices = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'refund_invoices'").get();
  const hashes = hasInvoices
    ? (db.prepare("SELECT payment_hash, token_id FROM refund_invoices").all() as {
        payment_hash: string;
        token_id: string;
      }[])
    : refunds.filter((r) => r.payment_hash !== "").map((r) => ({ payment_hash: r.payment_hash, token_id: r.token_id }));
  const accountOf = new Map(hashes.map((h) => [h.payment_hash, h.token_id]));
  const { paid, inFlight } = await nodePayments(lnd);
  let total = 0;
  for (const refund of refunds.filter((r) => r.amount_msat > 0)) {
    const label = `refund of ${refund.token_id.slice(0, 8)}`;
    const mine = (list: NodePayment[]) => list.filter((p) => accountOf.get(p.id) === refund.token_id);
    const sent = mine(paid);
    const flying = mine(inFlight);
    const sentMsat = sent.reduce((sum, p) => sum + Number(p.mtokens), 0);
    const flyingMsat = flying.reduce((sum, p) => sum + Number(p.mtokens), 0);
    total += sentMsat;
    if (sentMsat + flyingMsat > refund.amount_msat) {
      violations.push(
        `${label}: LND paid ${sentMsat} msat and has ${flyingMsat} in flight to its invoices, it was owed ${refund.amount_msat}`,
      );
    }
    if (sent.length + flying.length > 1) {
      violations.push(`${label}: LND made ${sent.length} payments and has ${flying.length} in flight for one refund`);
    }
    if (refund.status === "succeeded" && (sent.length !== 1 || sent[0]?.id !== refund.payment_hash)) {
      violations.push(`${label}: recorded succeeded, LND's payments list shows ${sent.length} payments of it`);
    }
  }
  return total;
}
