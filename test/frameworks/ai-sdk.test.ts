import { l402Tools, paidOpenAICompatible } from "@l402-gateway/agent-client/ai-sdk";
import { generateText, stepCountIs } from "ai";
import { MockLanguageModelV4 } from "ai/test";
import { describe, expect, it } from "vitest";
import { added, bobPaymentHashes, expectBooksToBalance, LLM_PRICE_SATS } from "../agent-client/support.js";
import {
  agentClient,
  expectNoSecrets,
  expectScriptedResults,
  MODEL,
  MODEL_TEST_TIMEOUT_MS,
  type ScriptedCall,
  scriptedCalls,
  usePaidLlmGateway,
} from "./support.js";

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 1, text: 1, reasoning: 0 },
};

/** A mock model that asks for the scripted tool calls, one per step, then answers. */
function scriptedModel(script: readonly ScriptedCall[]): MockLanguageModelV4 {
  let step = 0;
  return new MockLanguageModelV4({
    doGenerate: async () => {
      const call = script[step];
      step += 1;
      return call
        ? {
            content: [
              { type: "tool-call", toolCallId: `call-${step}`, toolName: call.name, input: JSON.stringify(call.args) },
            ],
            finishReason: { unified: "tool-calls", raw: undefined },
            usage,
            warnings: [],
          }
        : {
            content: [{ type: "text", text: "Done." }],
            finishReason: { unified: "stop", raw: undefined },
            usage,
            warnings: [],
          };
    },
  });
}

describe("the Vercel AI SDK: tools and an OpenAI-compatible provider that pay the regtest gateway", () => {
  const paid = usePaidLlmGateway();

  it(
    "generateText's tool loop pays once, reuses the token, and is refused over cap and over budget",
    async () => {
      const client = agentClient();
      const tools = l402Tools(client);
      expect(Object.keys(tools)).toEqual([
        "l402_fetch",
        "l402_quote",
        "l402_balance",
        "l402_receipts",
        "l402_budget",
        "l402_close",
      ]);
      const script = scriptedCalls(paid.gateway.url);
      const model = scriptedModel(script);

      const before = await bobPaymentHashes();
      const result = await generateText({
        model,
        tools,
        prompt: "Ask the paid model to say hi, then check the budget.",
        stopWhen: stepCountIs(script.length + 2),
      });

      expect(result.text).toBe("Done.");
      expect(model.doGenerateCalls).toHaveLength(script.length + 1);
      const toolResults = result.steps.flatMap((step) => step.toolResults);
      expect(toolResults.map((toolResult) => toolResult.toolName)).toEqual(script.map((call) => call.name));
      const hash = expectScriptedResults(toolResults.map((toolResult) => toolResult.output));
      expect(added(before, await bobPaymentHashes())).toEqual([hash]);
      // What the model was sent back: every step's messages, tool results included.
      await expectNoSecrets(client, {
        results: toolResults,
        prompts: model.doGenerateCalls.map((call) => call.prompt),
      });
    },
    MODEL_TEST_TIMEOUT_MS,
  );

  it(
    "an OpenAI-compatible provider pointed at the gateway pays for its first completion and rides the token after",
    async () => {
      const client = agentClient();
      const provider = paidOpenAICompatible(client, { baseURL: `${paid.gateway.url}/v1` });
      const before = await bobPaymentHashes();
      const first = await generateText({
        model: provider(MODEL),
        prompt: "Say hello.",
        maxOutputTokens: 8,
        temperature: 0,
      });
      const second = await generateText({
        model: provider(MODEL),
        prompt: "Count to three.",
        maxOutputTokens: 8,
        temperature: 0,
      });
      expect(first.text.length).toBeGreaterThan(0);
      expect(second.text.length).toBeGreaterThan(0);
      expect(first.usage.outputTokens).toBeGreaterThan(0);
      const receipts = await client.receipts();
      expect(receipts).toMatchObject([{ status: "succeeded", amountSats: LLM_PRICE_SATS, service: "llm" }]);
      expect(added(before, await bobPaymentHashes())).toEqual([receipts[0]?.paymentHash]);
    },
    MODEL_TEST_TIMEOUT_MS,
  );

  it("keeps the books: LND's settlements and the gateway's tokens agree", async () => {
    await expectBooksToBalance(paid.storePath);
  });
});
