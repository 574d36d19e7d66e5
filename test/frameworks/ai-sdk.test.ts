import { l402Tools, paidOpenAICompatible } from "@l402-gateway/agent-client/ai-sdk";
import { generateText, stepCountIs } from "ai";
import { MockLanguageModelV4 } from "ai/test";
import { describe, expect, it } from "vitest";
import { bobPaymentHashes } from "../agent-client/support.js";
import * as frameworks from "./support.js";

const { MODEL_TEST_TIMEOUT_MS } = frameworks;

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 1, text: 1, reasoning: 0 },
};

/** A mock model that asks for the scripted tool calls, one per step, then answers. */
function scriptedModel(script: readonly frameworks.ScriptedCall[]): MockLanguageModelV4 {
  let step = 0;
  return new MockLanguageModelV4({
    doGenerate: async () => {
      const call = script[step];
      step += 1;
      if (!call) {
        return {
          content: [{ type: "text", text: "Done." }],
          finishReason: { unified: "stop", raw: undefined },
          usage,
          warnings: [],
        };
      }
      const input = JSON.stringify(call.args);
      return {
        content: [{ type: "tool-call", toolCallId: `call-${step}`, toolName: call.name, input }],
        finishReason: { unified: "tool-calls", raw: undefined },
        usage,
        warnings: [],
      };
    },
  });
}

describe("the Vercel AI SDK: tools and an OpenAI-compatible provider that pay the regtest gateway", () => {
  const paid = frameworks.usePaidLlmGateway();

  it(
    "generateText's tool loop pays once, reuses the token, and is refused over cap and over budget",
    async () => {
      const client = frameworks.agentClient();
      const tools = l402Tools(client);
      expect(Object.keys(tools)).toEqual(frameworks.TOOL_NAMES);
      const script = frameworks.scriptedCalls(paid.gateway.url);
      const model = scriptedModel(script);

      const before = await bobPaymentHashes();
      const prompt = "Ask the paid model to say hi, then check the budget.";
      const result = await generateText({ model, tools, prompt, stopWhen: stepCountIs(script.length + 2) });

      expect(result.text).toBe("Done.");
      expect(model.doGenerateCalls).toHaveLength(script.length + 1);
      const toolResults = result.steps.flatMap((step) => step.toolResults);
      expect(toolResults.map((toolResult) => toolResult.toolName)).toEqual(script.map((call) => call.name));
      // What the model was sent back: every step's prompt, tool results included.
      const prompts = model.doGenerateCalls.map((call) => call.prompt);
      const outputs = toolResults.map((toolResult) => toolResult.output);
      await frameworks.expectScriptOutcome(client, before, outputs, { toolResults, prompts });
    },
    MODEL_TEST_TIMEOUT_MS,
  );

  it(
    "an OpenAI-compatible provider pointed at the gateway pays for its first completion, rides the token after",
    async () => {
      const client = frameworks.agentClient();
      const model = paidOpenAICompatible(client, { baseURL: `${paid.gateway.url}/v1` })(frameworks.MODEL);
      const before = await bobPaymentHashes();
      const first = await generateText({ model, prompt: "Say hello.", maxOutputTokens: 8, temperature: 0 });
      const second = await generateText({ model, prompt: "Count to three.", maxOutputTokens: 8, temperature: 0 });
      expect(first.usage.outputTokens).toBeGreaterThan(0);
      await frameworks.expectOneLlmPayment(client, before, [first.text, second.text]);
    },
    MODEL_TEST_TIMEOUT_MS,
  );

  frameworks.itKeepsTheBooks(paid);
});
