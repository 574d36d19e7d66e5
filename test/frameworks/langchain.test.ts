import { l402Tools, paidChatOpenAI } from "@l402-gateway/agent-client/langchain";
import { AIMessage, type BaseMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import { fakeModel } from "@langchain/core/testing";
import { describe, expect, it } from "vitest";
import { bobPaymentHashes } from "../agent-client/support.js";
import * as frameworks from "./support.js";

const { MODEL_TEST_TIMEOUT_MS } = frameworks;

describe("LangChain.js: tools and ChatOpenAI that pay the regtest gateway through the agent client", () => {
  const paid = frameworks.usePaidLlmGateway();

  it(
    "a tool-calling chat model's calls pay once, reuse the token, are refused over cap and budget",
    async () => {
      const client = frameworks.agentClient();
      const tools = l402Tools(client);
      expect(tools.map((tool) => tool.name)).toEqual(frameworks.TOOL_NAMES);
      const script = frameworks.scriptedCalls(paid.gateway.url);
      // The model asks for one tool per turn, then answers.
      const model = script
        .reduce((fake, call) => fake.respondWithTools([call]), fakeModel())
        .respond(new AIMessage("Done."));
      const agent = model.bindTools(tools);

      const before = await bobPaymentHashes();
      const messages: BaseMessage[] = [new HumanMessage("Ask the paid model to say hi, then check the budget.")];
      const shown: ToolMessage[] = [];
      for (let reply = await agent.invoke(messages); ; reply = await agent.invoke(messages)) {
        messages.push(reply);
        if (!reply.tool_calls?.length) break;
        for (const call of reply.tool_calls) {
          const tool = tools.find((candidate) => candidate.name === call.name);
          if (!tool) throw new Error(`the model called an unknown tool ${call.name}`);
          const message: unknown = await tool.invoke({ ...call, type: "tool_call" });
          if (!ToolMessage.isInstance(message)) throw new Error("a tool call must come back as a ToolMessage");
          shown.push(message);
          messages.push(message);
        }
      }

      expect(model.callCount).toBe(script.length + 1);
      // The model reads the JSON content; the artifact is the same result as an object.
      expect(shown.map((message) => JSON.parse(String(message.content)))).toEqual(shown.map((m) => m.artifact));
      const artifacts = shown.map((message) => message.artifact);
      await frameworks.expectScriptOutcome(client, before, artifacts, messages);
    },
    MODEL_TEST_TIMEOUT_MS,
  );

  it(
    "ChatOpenAI pointed at the gateway pays for its first completion and rides the token after",
    async () => {
      const client = frameworks.agentClient();
      const baseURL = `${paid.gateway.url}/v1`;
      const chat = paidChatOpenAI(client, { baseURL, model: frameworks.MODEL, maxTokens: 8, temperature: 0 });
      const before = await bobPaymentHashes();
      const first = await chat.invoke("Say hello.");
      const second = await chat.invoke("Count to three.");
      await frameworks.expectOneLlmPayment(client, before, [first.text, second.text]);
    },
    MODEL_TEST_TIMEOUT_MS,
  );

  frameworks.itKeepsTheBooks(paid);
});
