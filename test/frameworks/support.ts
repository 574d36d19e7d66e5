import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { L402Client } from "@l402-gateway/agent-client";
import type { RunningGateway } from "@l402-gateway/gateway";
import { DEFAULT_MODEL, type RunningServer, startServer } from "@l402-gateway/llm-backend";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  added,
  bobClient,
  bobPaymentHashes,
  expectBooksToBalance,
  LLM_PRICE_SATS,
  startTestGateway,
  WEATHER_PRICE_SATS,
} from "../agent-client/support.js";

/** The default model's name, as the backend serves it. */
export const MODEL = DEFAULT_MODEL.fileName.replace(/\.gguf$/, "");

/**
 * A total budget that allows the llm service's token (50 sats plus the 10-sat fee limit) and nothing more: the
 * weather service's 5 sats would take it past its limit.
 */
const TOTAL_BUDGET_SATS = LLM_PRICE_SATS + 12;

/**
 * The model answers only once it has decoded the whole reply, and on a loaded 2-core machine that takes long: the
 * tests wait for the model, not for a clock.
 */
export const MODEL_WAIT_MS = 300_000;

/** How long a test that asks the model (through the gateway) may take: a few answers at the slowest. */
export const MODEL_TEST_TIMEOUT_MS = 3 * MODEL_WAIT_MS;

/** The agent's client: bob's node, a 100-sat cap, and a total budget of one llm token. */
export function agentClient(): L402Client {
  return bobClient({ budget: { totalSats: TOTAL_BUDGET_SATS }, timeouts: { headersMs: MODEL_WAIT_MS } });
}

export interface PaidLlmGateway {
  readonly gateway: RunningGateway;
  /** The gateway's store, for the accounting invariant. */
  readonly storePath: string;
}

/** The real llm backend with the default model behind the test gateway (/v1/ is the llm service), for the file. */
export function usePaidLlmGateway(): PaidLlmGateway {
  const storePath = join(mkdtempSync(join(tmpdir(), "l402-frameworks-gw-")), "gateway.sqlite");
  let backend: RunningServer | undefined;
  let gateway: RunningGateway | undefined;
  beforeAll(async () => {
    backend = await startServer(
      { gpu: "false", port: 0, host: "127.0.0.1", parallel: 1, contextSize: 512, logLevel: "warn" },
      { waitUntilReady: true },
    );
    gateway = await startTestGateway(backend.url, { store: { path: storePath } });
  });
  afterAll(async () => {
    await gateway?.close();
    await backend?.close();
  });
  return {
    storePath,
    get gateway() {
      if (!gateway) throw new Error("the gateway is not started yet");
      return gateway;
    },
  };
}

/** The last test of each file: the accounting invariant on the gateway's store and alice's LND. */
export function itKeepsTheBooks(paid: PaidLlmGateway): void {
  it("keeps the books: LND's settlements and the gateway's tokens agree", async () => {
    await expectBooksToBalance(paid.storePath);
  });
}

/** The tools each adapter offers, in order. */
export const TOOL_NAMES = ["l402_fetch", "l402_quote", "l402_balance", "l402_receipts", "l402_budget", "l402_close"];

export interface ScriptedCall {
  readonly name: string;
  readonly args: Record<string, unknown>;
}

/** A short, cheap chat completion, as a model would ask the fetch tool to send it. */
export function chatCompletionRequest(gatewayUrl: string): Record<string, unknown> {
  return {
    url: `${gatewayUrl}/v1/chat/completions`,
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Say hi." }], max_tokens: 4 }),
  };
}

/**
 * The tool calls a fake model makes, one per turn: the price first, a paid chat completion, the same again (on the
 * held token), the weather service with a cap below its price, then without (past the total budget), the budget and
 * the receipts.
 */
export function scriptedCalls(gatewayUrl: string): ScriptedCall[] {
  const chat = chatCompletionRequest(gatewayUrl);
  const weather = `${gatewayUrl}/weather/paris`;
  return [
    { name: "l402_quote", args: chat },
    { name: "l402_fetch", args: chat },
    { name: "l402_fetch", args: chat },
    { name: "l402_fetch", args: { url: weather, max_cost: WEATHER_PRICE_SATS - 1 } },
    { name: "l402_fetch", args: { url: weather } },
    { name: "l402_budget", args: {} },
    { name: "l402_receipts", args: {} },
  ];
}

/** What the scripted calls must have come back with, in order; returns the payment hash of the one payment. */
export function expectScriptedResults(results: readonly unknown[]): string {
  expect(results).toHaveLength(7);
  const [quote, paid, reused, overCap, overBudget, budget, receipts] = results;
  expect(quote).toMatchObject({ ok: true, kind: "fixed", invoice_sats: LLM_PRICE_SATS, refused: null });
  expect(paid).toMatchObject({ ok: true, status: 200, payment: { amount_sats: LLM_PRICE_SATS, service: "llm" } });
  expect(JSON.parse(String((paid as { body: string }).body))).toMatchObject({ object: "chat.completion" });
  expect(reused).toMatchObject({ ok: true, status: 200, payment: null });
  expect(overCap).toEqual({
    ok: false,
    code: "over_cap",
    message: expect.stringContaining("cap of 4 sats"),
    price_sats: WEATHER_PRICE_SATS,
  });
  expect(overBudget).toMatchObject({ ok: false, code: "budget_exceeded", message: expect.any(String) });
  expect(budget).toMatchObject({
    ok: true,
    spent: { totalSats: LLM_PRICE_SATS },
    limits: { totalSats: TOTAL_BUDGET_SATS },
  });
  const hash = (paid as { payment: { payment_hash: string } }).payment.payment_hash;
  expect(receipts).toMatchObject({ ok: true, receipts: [{ payment_hash: hash, status: "succeeded" }] });
  return hash;
}

/**
 * The scripted calls' results (see `expectScriptedResults`), the one payment on bob's node since `before`, and no
 * secret in what the model was `shown`.
 */
export async function expectScriptOutcome(
  client: L402Client,
  before: ReadonlySet<string>,
  results: readonly unknown[],
  shown: unknown,
): Promise<void> {
  const hash = expectScriptedResults(results);
  expect(added(before, await bobPaymentHashes())).toEqual([hash]);
  await expectNoSecrets(client, shown);
}

/** Each answer has text, and the client paid once on bob's node since `before`: the llm token, reused after. */
export async function expectOneLlmPayment(
  client: L402Client,
  before: ReadonlySet<string>,
  answers: readonly string[],
): Promise<void> {
  for (const answer of answers) expect(answer.length).toBeGreaterThan(0);
  const receipts = await client.receipts();
  expect(receipts).toMatchObject([{ status: "succeeded", amountSats: LLM_PRICE_SATS, service: "llm" }]);
  expect(added(before, await bobPaymentHashes())).toEqual([receipts[0]?.paymentHash]);
}

/**
 * Fails if anything a model was shown holds a credential secret of `client`: a macaroon, a preimage, or an
 * Authorization value (the L402 scheme, or a "macaroon:preimage" pair).
 */
export async function expectNoSecrets(client: L402Client, shown: unknown): Promise<void> {
  const text = JSON.stringify(shown);
  const tokens = await client.tokens();
  expect(tokens.length).toBeGreaterThan(0);
  for (const token of tokens) {
    expect(text).not.toContain(token.macaroon);
    expect(text).not.toContain(token.preimage);
  }
  expect(text).not.toMatch(/\b(L402|LSAT)\s+[A-Za-z0-9+/_=-]{20,}/i);
  expect(text).not.toMatch(/authorization/i);
}
