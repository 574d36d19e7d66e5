import { l402Tools, paidChatOpenAI } from "@l402-gateway/agent-client/langchain";
import { AIMessage, type BaseMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import { fakeModel } from "@langchain/core/testing";
import { describe, expect, it } from "vitest";
import { added, bobPaymentHashes, expectBooksToBalance, LLM_PRICE_SATS } from "../agent-client/support.js";
import {
  agentClient,
  expectNoSecrets,
  expectScriptedResults,
  MODEL,
  MODEL_TEST_TIMEOUT_MS,
  scriptedCalls,
  usePaidLlmGateway,
} from "./support.js";

describe("LangChain.js: tools and ChatOpenAI that pay the regtest gateway through the agent client", () => {
  const paid = usePaidLlmGateway();

  it(
    "a tool-calling chat model's calls pay once, reuse the token, and are refused over cap and over budget",
    async () => {
      const client = agentClient();
      const tools = l402Tools(client);
      expect(tools.map((tool) => tool.name)).toEqual([
        "l402_fetch",
        "l402_quote",
        "l402_balance",
        "l402_receipts",
        "l402_budget",
        "l402_close",
      ]);
      const script = scriptedCalls(paid.gateway.url);
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
      expect(shown.map((message) => JSON.parse(String(message.content)))).toEqual(shown.map((m) => m.artifact));
      const hash = expectScriptedResults(shown.map((message) => message.artifact));
      expect(added(before, await bobPaymentHashes())).toEqual([hash]);
      await expectNoSecrets(client, messages);
    },
    MODEL_TEST_TIMEOUT_MS,
  );

  it(
    "ChatOpenAI pointed at the gateway pays for its first completion and rides the token after",
    async () => {
      const client = agentClient();
      const chat = paidChatOpenAI(client, {
        baseURL: `${paid.gateway.url}/v1`,
        model: MODEL,
        maxTokens: 8,
        temperature: 0,
      });
      const before = await bobPaymentHashes();
      const first = await chat.invoke("Say hello.");
      const second = await chat.invoke("Count to three.");
      expect(String(first.content).length).toBeGreaterThan(0);
      expect(String(second.content).length).toBeGreaterThan(0);
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
