import { BALANCE_HEADER, COST_HEADER, RESERVED_HEADER } from "@l402-gateway/l402";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import type { L402Client } from "../client.js";
import { L402ClientError, type PriceQuote } from "../errors.js";
import { scrubSecrets } from "../scrub.js";
import type { Refund } from "../store/state.js";
import type { Wallet } from "../wallet/wallet.js";

/** What the person running the server decides; nothing a model sends can change it. */
export interface McpPolicy {
  /** The client's cap per payment (amount plus maximum fee), for the tools' descriptions. */
  readonly maxCostSats: number;
  /** Payments above this (amount plus maximum fee) are made only after the user confirms through the host. */
  readonly confirmAboveSats: number | undefined;
  /** Response bodies longer than this are cut (the model's context is the limit). */
  readonly maxBodyChars: number;
}

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
    .describe('Request headers, e.g. {"content-type": "application/json"}. Authorization is set by the server.'),
  body: z.string().optional().describe("Request body as text (JSON as a string)."),
};

type RequestArgs = { url: string; method: string; headers: Record<string, string>; body?: string | undefined };

function requestInit(args: RequestArgs): RequestInit {
  const headers = new Headers(args.headers);
  headers.delete("authorization");
  return { method: args.method.toUpperCase(), headers, ...(args.body === undefined ? {} : { body: args.body }) };
}

function result(data: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text: JSON.stringify(data, null, 2) }], structuredContent: data };
}

/** Codes of errors that come after a payment this call made: the model is told what was paid. */
const AFTER_PAYMENT: ReadonlySet<string> = new Set(["paid_not_served", "payment_refused"]);

/**
 * A refusal or failure as the model sees it: the client's error code and its message (which says how to resume
 * after a payment), the price a refusal was about, or the payment made when the call failed after paying.
 */
function failure(error: unknown): CallToolResult {
  const data =
    error instanceof L402ClientError
      ? {
          code: error.code,
          message: error.message,
          ...(error.quote && AFTER_PAYMENT.has(error.code)
            ? {
                paid: {
                  amount_sats: error.quote.amountSats,
                  payment_hash: error.quote.paymentHash,
                  scheme: error.quote.scheme ?? "l402",
                  origin: error.quote.origin,
                },
              }
            : error.quote
              ? { price_sats: error.quote.amountSats }
              : {}),
        }
      : { code: "error", message: error instanceof Error ? error.message : String(error) };
  return { content: [{ type: "text", text: JSON.stringify(data) }], structuredContent: data, isError: true };
}

async function tool(run: () => Promise<Record<string, unknown>>): Promise<CallToolResult> {
  try {
    return result(await run());
  } catch (error) {
    return failure(error);
  }
}

/**
 * An MCP server whose tools pay L402 APIs through `client`: fetch (paying when asked to, within the caps),
 * quote, balance, receipts and budget. The caps, budgets and confirmation threshold are the server's own: tools can
 * narrow a payment (`max_cost`) but never widen one, and no tool changes a budget.
 */
export function createMcpServer(client: L402Client, policy: McpPolicy, version: string, wallet?: Wallet): McpServer {
  const server = new McpServer({ name: "l402", version });
  const confirmNote =
    policy.confirmAboveSats === undefined
      ? ""
      : ` Payments above ${policy.confirmAboveSats} sats need the user's confirmation (asked through the host).`;

  /** Asks the user, through the host, to confirm a payment above the threshold; refused where the host cannot ask. */
  async function approve(quote: PriceQuote): Promise<boolean> {
    const threshold = policy.confirmAboveSats;
    if (threshold === undefined || quote.amountSats + quote.maxFeeSats <= threshold) return true;
    if (!server.server.getClientCapabilities()?.elicitation) {
      throw new L402ClientError(
        "payment_declined",
        `paying ${quote.amountSats} sats needs the user's confirmation (above ${threshold} sats), and this host ` +
          "cannot ask for it (no MCP elicitation)",
        { quote },
      );
    }
    const answer = await server.server.elicitInput({
      message:
        `Pay ${quote.amountSats} sats (+ up to ${quote.maxFeeSats} sats routing fee) over Lightning to ` +
        `${quote.origin}${quote.service ? ` for ${quote.service}` : ""}?`,
      requestedSchema: {
        type: "object",
        properties: { confirm: { type: "boolean", title: "Pay", description: "Pay this invoice" } },
        required: ["confirm"],
      },
    });
    return answer.action === "accept" && answer.content?.confirm === true;
  }

  server.registerTool(
    "fetch",
    {
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
        `The cap per payment is ${policy.maxCostSats} sats (amount plus fee); max_cost can only lower it.${confirmNote}`,
      inputSchema: {
        ...request,
        max_cost: z
          .number()
          .int()
          .positive()
          .optional()
          .describe(
            `Most sats this call may pay (amount plus fee); at most the server's cap of ${policy.maxCostSats}.`,
          ),
        deposit_calls: z
          .number()
          .int()
          .positive()
          .max(1000)
          .optional()
          .describe(
            "Metered services: how many calls at the quoted price a credential bought or topped up by this call " +
              "is funded with (within the cap and budgets). Default: the server's setting (5 calls).",
          ),
      },
    },
    (args) =>
      tool(async () => {
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
          body: text.length > policy.maxBodyChars ? text.slice(0, policy.maxBodyChars) : text,
          body_truncated: text.length > policy.maxBodyChars,
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
      }),
  );

  server.registerTool(
    "quote",
    {
      title: "Price of a request, without paying",
      description:
        "Asks the gateway what this exact request would cost before anything is paid (no invoice is created): the " +
        "service, whether it is free, fixed-price or metered, the sats a new credential's invoice would ask, what a " +
        "metered call reserves (msat) with its rates, what this server would prepay for several metered calls " +
        "(deposit_sats, null when it pays invoice_sats), and whether the caps and budgets would refuse the payment.",
      inputSchema: request,
    },
    (args) =>
      tool(async () => {
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
          needs_confirmation:
            quote.invoiceSats > 0 && policy.confirmAboveSats !== undefined && total > policy.confirmAboveSats,
        };
      }),
  );

  server.registerTool(
    "balance",
    {
      title: "Prepaid balances of held credentials",
      description:
        "For each credential held (of one origin, or all), what its gateway reports: the prepaid balance, reserved " +
        "and charged msat and the requests made (metered services), and until when it is valid; and the wallet's " +
        "own spendable balance where the wallet can tell (NWC get_balance).",
      inputSchema: {
        origin: z.string().optional().describe("Only credentials of this origin, e.g. https://api.example"),
      },
    },
    (args) =>
      tool(async () => ({
        wallet_balance_msat: wallet?.balanceMsat ? await wallet.balanceMsat().catch(() => null) : null,
        balances: (await client.balances(args.origin)).map((held) => ({
          origin: held.origin,
          service: held.service,
          payment_hash: held.paymentHash,
          ...(held.account ?? {}),
          error: held.error,
        })),
      })),
  );

  server.registerTool(
    "receipts",
    {
      title: "Spending history",
      description:
        "Payments made, newest first: origin, service, sats, fee, status (pending, succeeded, failed), times.",
      inputSchema: {
        origin: z.string().optional().describe("Only payments to this origin"),
        status: z.enum(["pending", "succeeded", "failed"]).optional(),
        since: z.iso.datetime().optional().describe("Only payments made at or after this ISO time"),
        limit: z.number().int().positive().max(1_000).default(50),
      },
    },
    (args) =>
      tool(async () => {
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
      }),
  );

  server.registerTool(
    "budget",
    {
      title: "Spending limits and what is left",
      description:
        "The limits set by the user (per payment, hourly, daily, total, per origin), what was spent in each, and what " +
        "is left. Read only: the limits are the server's configuration and no tool can change them.",
      inputSchema: {},
    },
    () =>
      tool(async () => {
        const { limits, spent } = await client.budget();
        const left = (limit: number | undefined, used: number) =>
          limit === undefined ? null : Math.max(0, limit - used);
        return {
          max_cost_per_payment_sats: policy.maxCostSats,
          confirm_above_sats: policy.confirmAboveSats ?? null,
          limits,
          spent,
          left: {
            hourly_sats: left(limits.hourlySats, spent.lastHourSats),
            daily_sats: left(limits.dailySats, spent.lastDaySats),
            total_sats: left(limits.totalSats, spent.totalSats),
          },
        };
      }),
  );

  server.registerTool(
    "close",
    {
      title: "Close prepaid tokens and sessions of an origin, and collect their refunds",
      description:
        "Closes every L402 prepaid token and Payment session held for one origin: the server pays the unspent " +
        "balance back to an invoice of the user's wallet, and the held credentials stop working (the next call pays " +
        "again). Use it when the work with that API is done. Returns what each server announced and what arrived.",
      inputSchema: {
        origin: z.url({ protocol: /^https?$/ }).describe("The API's origin, e.g. https://api.example.com"),
      },
    },
    ({ origin }) =>
      tool(async () => {
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
      }),
  );

  return server;
}
