/// <reference path="../types/invoices.d.ts" />
import invoices from "invoices";
import { isAlreadyPayingAnswer, type PayAnswer, type PaymentState, type RefundPayer } from "../refunds/payer.js";

/** One payment LND registered: in flight until the test (or the double's policy) settles or fails it. */
export interface DoublePayment {
  readonly paymentHash: string;
  readonly amountMsat: number;
  state: "in_flight" | "succeeded" | "failed";
}

/** Where a pay call is held, so a test can interleave other work at that point. */
export type PayStep = "before_register" | "in_flight";

/**
 * LND's router and control tower as the refund payer sees them, for unit tests of refund logic. A payment goes
 * through LND's states: unknown (the call has not reached LND: `lookup` says `unknown`), in flight (registered; a
 * second pay of the hash is refused with LND's "payment is in transition"), then settled or failed (a second pay of a
 * settled hash is refused with "invoice is already paid"; a failed one may be paid again). `gate` decides when a pay
 * call moves on from each step, so a test can put any other call in the window; `outcome` decides how it ends.
 */
export class LndPaymentsDouble implements RefundPayer {
  /** Every payment LND registered, in order; a hash paid again after failing appears again. */
  readonly payments: DoublePayment[] = [];
  /** Pay calls made, refused ones included. */
  calls = 0;
  /** Whether LND is reachable: when not, lookups throw and pay calls fail before reaching LND. */
  reachable = true;

  constructor(
    private readonly options: {
      /** Waited on at each step of a pay call (defaults to nothing). */
      readonly gate?: (step: PayStep, paymentHash: string) => Promise<void>;
      /** How a registered payment ends (defaults to settled). */
      readonly outcome?: (paymentHash: string) => Promise<"succeeded" | "failed"> | "succeeded" | "failed";
    } = {},
  ) {}

  async nodeKey(): Promise<string | undefined> {
    return undefined;
  }

  /** The latest payment of a hash. */
  latest(paymentHash: string): DoublePayment | undefined {
    return this.payments.findLast((p) => p.paymentHash === paymentHash);
  }

  /** Msat LND paid out for these hashes (each succeeded payment counts). */
  paidOut(paymentHashes: Iterable<string>): number {
    const hashes = new Set(paymentHashes);
    return this.payments
      .filter((p) => p.state === "succeeded" && hashes.has(p.paymentHash))
      .reduce((sum, p) => sum + p.amountMsat, 0);
  }

  async pay(args: { readonly invoice: string; readonly amountMsat?: number }): Promise<PayAnswer> {
    this.calls += 1;
    const parsed = invoices.parsePaymentRequest({ request: args.invoice });
    const paymentHash = parsed.id;
    const amountMsat = args.amountMsat ?? Number(parsed.mtokens ?? 0);
    await this.options.gate?.("before_register", paymentHash);
    if (!this.reachable) return { status: "failed", error: "UnexpectedPaymentError: connection refused" };
    const previous = this.latest(paymentHash);
    if (previous?.state === "in_flight") return answer("payment is in transition");
    if (previous?.state === "succeeded") return answer("invoice is already paid");
    const payment: DoublePayment = { paymentHash, amountMsat, state: "in_flight" };
    this.payments.push(payment);
    await this.options.gate?.("in_flight", paymentHash);
    payment.state = (await this.options.outcome?.(paymentHash)) ?? "succeeded";
    return payment.state === "succeeded"
      ? { status: "succeeded", feeMsat: 0 }
      : { status: "failed", error: "PaymentRejectedByDestination" };
  }

  async lookup(paymentHash: string): Promise<PaymentState> {
    if (!this.reachable) throw new Error("LND is unreachable");
    const payment = this.latest(paymentHash);
    if (!payment) return { status: "unknown" };
    if (payment.state === "succeeded") return { status: "succeeded", feeMsat: 0 };
    if (payment.state === "failed") return { status: "failed", error: "LND reports the payment failed" };
    return { status: "in_flight" };
  }
}

/** LND's refusal of a duplicate payment, as LndRefundPayer maps it. */
function answer(error: string): PayAnswer {
  return isAlreadyPayingAnswer(error) ? { status: "in_flight", detail: error } : { status: "failed", error };
}
