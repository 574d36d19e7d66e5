import { BALANCE_HEADER, COST_HEADER, RESERVED_HEADER } from "@l402-gateway/l402";
import { z } from "zod";
import type { L402Client } from "../client.js";
import { L402ClientError, type PriceQuote } from "../errors.js";
import { scrubSecrets } from "../scrub.js";
import type { Refund } from "../store/state.js";
import type { Wallet } from "../wallet/wallet.js";
import { settle, type ToolResult } from "./result.js";

export type PaymentToolName = "fetch" | "quote" | "balance" | "receipts" | "budget" | "close";

/**
 * One tool, framework-neutral: what a framework adapter (or the MCP server) needs to offer it to a model. `run`
 * never throws: bad input, refusals and failures come back as `{ ok: false, code, message }`.
 */
export interface PaymentTool {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly inputSchema: z.ZodObject;
  run(input: unknown): Promise<ToolResult>;
}

/** What the person running the agent decides; nothing a model sends can change it. */
export interface PaymentToolOptions {
  /** The cap per payment shown in the descriptions; the client's own cap by default (the client enforces it). */
  readonly maxCostSats?: number;
  /** Payments above this (amount plus maximum fee) are made only after `confirm` says yes. */
  readonly confirmAboveSats?: number;
  /**
   * Asks the user to confirm a payment above `confirmAboveSats`: true pays, false refuses with `payment_declined`.
   * Without it, such payments are refused.
   */
  readonly confirm?: (quote: PriceQuote) => Promise<boolean>;
  /** Response bodies longer than this are cut (the model's context is the limit); default 20,000 characters. */
  readonly maxBodyChars?: number;
  /** The wallet, for the balance tool to show its spendable balance where it can tell. */
  readonly wallet?: Wallet;
}

const DEFAULT_MAX_BODY_CHARS = 20_000;

/** Response headers a model needs to read a paid answer; the rest are left out. */
const SHOWN_HEADERS = ["content-type", COST_HEADER, BALANCE_HEADER, RESERVED_HEADER, "retry-after", "location"];

const request = {
  url: z.url({ protocol: /^https?$/ }).describe("The http(s) URL to call."),
  method: z
    .string()
    .regex(/^[A-Za-z]{1,20}$/)
    .default("GET")
    .describe("HTTP method; POST for an OpenAI-style chat completion."),
  headers: z
    .record(z.string(), z.string())
    .default({})
    .describe('Request headers, e.g. {"content-type": "application/json"}. Authorization is set by the payer.'),
  body: z.string().optional().describe("Request body as text (JSON as a string)."),
};

type RequestArgs = { url: string; method: string; headers: Record<string, string>; body?: string | undefined };

function requestInit(args: RequestArgs): RequestInit {
  const headers = new Headers(args.headers);
  headers.delete("authorization");
  return { method: args.method.toUpperCase(), headers, ...(args.body === undefined ? {} : { body: args.body }) };
}

function define<Schema extends z.ZodObject>(spec: {
  name: PaymentToolName;
  title: string;
  description: string;
  inputSchema: Schema;
  handle: (args: z.output<Schema>) => Promise<Record<string, unknown>>;
}): PaymentTool {
  const { handle, ...tool } = spec;
  return {
    ...tool,
    run: async (input) => {
      const parsed = spec.inputSchema.safeParse(input ?? {});
      if (!parsed.success) return { ok: false, code: "invalid_input", message: z.prettifyError(parsed.error) };
      return settle(() => handle(parsed.data));
    },
  };
}

/**
 * The tools through which a model pays L402 APIs with `client`: fetch (paying when asked to, within the caps),
 * quote, balance, receipts, budget and close. The caps, budgets, confirmation and credential scrubbing are the
 * client's and the options': a tool can narrow a payment (`max_cost`) but never widen one, and no tool changes a
 * budget. Framework adapters and the MCP server all offer these.
 */
export function createPaymentTools(client: L402Client, options: PaymentToolOptions = {}): readonly PaymentTool[] {
  const maxCostSats = options.maxCostSats ?? client.maxCostSats;
  const maxBodyChars = options.maxBodyChars ?? DEFAULT_MAX_BODY_CHARS;
  const { confirmAboveSats, confirm, wallet } = options;
  const confirmNote =
    confirmAboveSats === undefined ? "" : ` Payments above ${confirmAboveSats} sats need the user's confirmation.`;

  async function approve(quote: PriceQuote): Promise<boolean> {
    if (confirmAboveSats === undefined || quote.amountSats + quote.maxFeeSats <= confirmAboveSats) return true;
    if (!confirm) {
      throw new L402ClientError(
        "payment_declined",
        `paying ${quote.amountSats} sats needs the user's confirmation (above ${confirmAboveSats} sats), and no one ` +
          "can be asked for it here",
        { quote },
      );
    }
    return confirm(quote);
  }

  const fetchTool = define({
    name: "fetch",
    title: "HTTP request that pays L402 challenges",
    description:
      "Sends an HTTP request; when the server answers 402 Payment Required with an L402 challenge, pays its " +
      "Lightning invoice (within the caps and budgets) and retries with the credential. Held credentials are " +
      "reused, so a second call to the same service normally pays nothing: a metered service's credential is " +
      "funded for several calls (deposit_calls) and topped up when its balance runs out; close refunds the " +
      "unspent rest. Returns the status, the headers of " +
      "interest (x-l402-cost-msat is what a metered call cost), the body, and the payment made, if any. " +
      "A paid call whose answer is lost is sent again with the paid credential; if it still fails, the error " +
      "says what was paid and how to resume (usually: call fetch again, the credential is kept). A server that " +
      "takes a payment and does not serve gets no new payment for a while (origin_refused_token). Credentials a " +
      "server echoes are shown as [redacted]. " +
      `The cap per payment is ${maxCostSats} sats (amount plus fee); max_cost can only lower it.${confirmNote}`,
    inputSchema: z.object({
      ...request,
      max_cost: z
        .number()
        .int()
        .positive()
        .optional()
        .describe(`Most sats this call may pay (amount plus fee); at most the cap of ${maxCostSats}.`),
      deposit_calls: z
        .number()
        .int()
        .positive()
        .max(1000)
        .optional()
        .describe(
          "Metered services: how many calls at the quoted price a credential bought or topped up by this call " +
            "is funded with (within the cap and budgets). Default: the client's setting (5 calls).",
        ),
    }),
    handle: async (args) => {
      let paidHash: string | undefined;
      const secrets: string[] = [];
      const response = await client.fetchWithin(args.url, requestInit(args), {
        ...(args.max_cost === undefined ? {} : { maxCostSats: args.max_cost }),
        ...(args.deposit_calls === undefined ? {} : { deposit: { calls: args.deposit_calls } }),
        approve,
        onPaid: (hash) => {
          paidHash = hash;
        },
        onCredential: (presented) => secrets.push(...presented),
      });
      // A server may echo the credential it was sent: the model never sees it.
      const text = scrubSecrets(await response.text(), secrets);
      const receipt = paidHash && (await client.receipts()).find((r) => r.paymentHash === paidHash);
      return {
        status: response.status,
        headers: Object.fromEntries(
          SHOWN_HEADERS.flatMap((name) => {
            const value = response.headers.get(name);
            return value === null ? [] : [[name, scrubSecrets(value, secrets)]];
          }),
        ),
        body: text.length > maxBodyChars ? text.slice(0, maxBodyChars) : text,
        body_truncated: text.length > maxBodyChars,
        cost_msat: Number(response.headers.get(COST_HEADER) ?? 0) || null,
        payment: receipt
          ? {
              amount_sats: receipt.amountSats,
              fee_sats: receipt.feeSats,
              payment_hash: receipt.paymentHash,
              service: receipt.service,
              origin: receipt.origin,
            }
          : null,
      };
    },
  });

  const quoteTool = define({
    name: "quote",
    title: "Price of a request, without paying",
    description:
      "Asks the gateway what this exact request would cost before anything is paid (no invoice is created): the " +
      "service, whether it is free, fixed-price or metered, the sats a new credential's invoice would ask, what a " +
      "metered call reserves (msat) with its rates, what this client would prepay for several metered calls " +
      "(deposit_sats, null when it pays invoice_sats), and whether the caps and budgets would refuse the payment.",
    inputSchema: z.object(request),
    handle: async (args) => {
      const quote = await client.quote(args.url, requestInit(args));
      const total = (quote.depositSats ?? quote.invoiceSats) + quote.maxFeeSats;
      return {
        origin: quote.origin,
        service: quote.service,
        kind: quote.kind,
        invoice_sats: quote.invoiceSats,
        deposit_sats: quote.depositSats,
        max_fee_sats: quote.maxFeeSats,
        reserve_msat: quote.reserveMsat,
        breakdown: quote.breakdown,
        refused: quote.refusal ? { code: quote.refusal.code, message: quote.refusal.message } : null,
        needs_confirmation: quote.invoiceSats > 0 && confirmAboveSats !== undefined && total > confirmAboveSats,
      };
    },
  });

  const balanceTool = define({
    name: "balance",
    title: "Prepaid balances of held credentials",
    description:
      "For each credential held (of one origin, or all), what its gateway reports: the prepaid balance, reserved " +
      "and charged msat and the requests made (metered services), and until when it is valid; and the wallet's " +
      "own spendable balance where the wallet can tell (NWC get_balance).",
    inputSchema: z.object({
      origin: z.string().optional().describe("Only credentials of this origin, e.g. https://api.example"),
    }),
    handle: async (args) => ({
      wallet_balance_msat: wallet?.balanceMsat ? await wallet.balanceMsat().catch(() => null) : null,
      balances: (await client.balances(args.origin)).map((held) => ({
        origin: held.origin,
        service: held.service,
        payment_hash: held.paymentHash,
        ...(held.account ?? {}),
        error: held.error,
      })),
    }),
  });

  const receiptsTool = define({
    name: "receipts",
    title: "Spending history",
    description: "Payments made, newest first: origin, service, sats, fee, status (pending, succeeded, failed), times.",
    inputSchema: z.object({
      origin: z.string().optional().describe("Only payments to this origin"),
      status: z.enum(["pending", "succeeded", "failed"]).optional(),
      since: z.iso.datetime().optional().describe("Only payments made at or after this ISO time"),
      limit: z.number().int().positive().max(1_000).default(50),
    }),
    handle: async (args) => {
      const receipts = await client.receipts({
        ...(args.origin === undefined ? {} : { origin: args.origin }),
        ...(args.status === undefined ? {} : { status: args.status }),
        ...(args.since === undefined ? {} : { since: new Date(args.since) }),
        limit: args.limit,
      });
      return {
        receipts: receipts.map((r) => ({
          payment_hash: r.paymentHash,
          origin: r.origin,
          service: r.service,
          status: r.status,
          amount_sats: r.amountSats,
          fee_sats: r.feeSats,
          created_at: r.createdAt,
          settled_at: r.settledAt,
          error: r.error,
        })),
      };
    },
  });

  const budgetTool = define({
    name: "budget",
    title: "Spending limits and what is left",
    description:
      "The limits set by the user (per payment, hourly, daily, total, per origin), what was spent in each, and what " +
      "is left. Read only: the limits are the user's configuration and no tool can change them.",
    inputSchema: z.object({}),
    handle: async () => {
      const { limits, spent } = await client.budget();
      const left = (limit: number | undefined, used: number) =>
        limit === undefined ? null : Math.max(0, limit - used);
      return {
        max_cost_per_payment_sats: maxCostSats,
        confirm_above_sats: confirmAboveSats ?? null,
        limits,
        spent,
        left: {
          hourly_sats: left(limits.hourlySats, spent.lastHourSats),
          daily_sats: left(limits.dailySats, spent.lastDaySats),
          total_sats: left(limits.totalSats, spent.totalSats),
        },
      };
    },
  });

  const closeTool = define({
    name: "close",
    title: "Close prepaid tokens and sessions of an origin, and collect their refunds",
    description:
      "Closes every L402 prepaid token and Payment session held for one origin: the server pays the unspent " +
      "balance back to an invoice of the user's wallet, and the held credentials stop working (the next call pays " +
      "again). Use it when the work with that API is done. Returns what each server announced and what arrived.",
    inputSchema: z.object({
      origin: z.url({ protocol: /^https?$/ }).describe("The API's origin, e.g. https://api.example.com"),
    }),
    handle: async ({ origin }) => {
      const target = new URL(origin).origin;
      const refundOf = (refund: Refund) => ({
        announced_sats: refund.announcedSats,
        received_sats: refund.receivedSats,
        status: refund.status,
      });
      const sessions = await client.closeSessions({ origin: target });
      const tokens = await client.closeTokens({ origin: target });
      return {
        origin: target,
        sessions: sessions.map((session) => ({ session_id: session.sessionId, refund: refundOf(session.refund) })),
        tokens: tokens.map((token) => ({
          service: token.service,
          payment_hash: token.paymentHash,
          refund: refundOf(token.refund),
        })),
      };
    },
  });

  return [fetchTool, quoteTool, balanceTool, receiptsTool, budgetTool, closeTool];
}
