import { l402Tools, paidChatCompletionsModel } from "@l402-gateway/agent-client/openai-agents";
import {
  Agent,
  type AgentOutputItem,
  type Model,
  type ModelRequest,
  type ModelResponse,
  run,
  setTracingDisabled,
  Usage,
} from "@openai/agents";
import { beforeAll, describe, expect, it } from "vitest";
import { bobPaymentHashes } from "../agent-client/support.js";
import * as frameworks from "./support.js";

const { MODEL_TEST_TIMEOUT_MS } = frameworks;

/** A model that asks for the scripted tool calls, one per turn, then answers; it keeps every request it was sent. */
class ScriptedModel implements Model {
  readonly requests: ModelRequest[] = [];
  #turn = 0;

  constructor(private readonly script: readonly frameworks.ScriptedCall[]) {}

  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    this.requests.push(request);
    const call = this.script[this.#turn];
    this.#turn += 1;
    const output: AgentOutputItem[] = call
      ? [
          {
            type: "function_call",
            callId: `call-${this.#turn}`,
            name: call.name,
            arguments: JSON.stringify(call.args),
            status: "completed",
          },
        ]
      : [
          {
            type: "message",
            role: "assistant",
            status: "completed",
            content: [{ type: "output_text", text: "Done." }],
          },
        ];
    return { output, usage: new Usage() };
  }

  getStreamedResponse(): AsyncIterable<never> {
    throw new Error("the scripted model does not stream");
  }
}

describe("the OpenAI Agents SDK: function tools and a chat-completions model that pay the regtest gateway", () => {
  const paid = frameworks.usePaidLlmGateway();

  beforeAll(() => {
    // Nothing leaves the machine: traces would go to OpenAI.
    setTracingDisabled(true);
  });

  it(
    "an agent run's tool calls pay once, reuse the token, and are refused over cap and over budget",
    async () => {
      const client = frameworks.agentClient();
      const tools = l402Tools(client);
      expect(tools.map((tool) => tool.name)).toEqual(frameworks.TOOL_NAMES);
      const script = frameworks.scriptedCalls(paid.gateway.url);
      const model = new ScriptedModel(script);
      const agent = new Agent({ name: "payer", instructions: "Use the l402 tools.", model, tools });

      const before = await bobPaymentHashes();
      const question = "Ask the paid model to say hi, then check the budget.";
      const result = await run(agent, question, { maxTurns: script.length + 2 });

      expect(result.finalOutput).toBe("Done.");
      expect(model.requests).toHaveLength(script.length + 1);
      const outputs = result.newItems.flatMap((item) => (item.type === "tool_call_output_item" ? [item.output] : []));
      const inputs = model.requests.map((request) => request.input);
      await frameworks.expectScriptOutcome(client, before, outputs, { outputs, inputs });
    },
    MODEL_TEST_TIMEOUT_MS,
  );

  it(
    "an agent on the paid chat-completions model pays for its first turn and rides the token after",
    async () => {
      const client = frameworks.agentClient();
      const model = paidChatCompletionsModel(client, { baseURL: `${paid.gateway.url}/v1`, model: frameworks.MODEL });
      const agent = new Agent({ name: "talker", model, modelSettings: { maxTokens: 8, temperature: 0 } });
      const before = await bobPaymentHashes();
      const first = await run(agent, "Say hello.");
      const second = await run(agent, "Count to three.");
      await frameworks.expectOneLlmPayment(client, before, [String(first.finalOutput), String(second.finalOutput)]);
    },
    MODEL_TEST_TIMEOUT_MS,
  );

  frameworks.itKeepsTheBooks(paid);
});
