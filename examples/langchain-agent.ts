/**
 * A LangChain.js agent that answers through the paid gateway: `ChatOpenAI` pays for its own completions through the
 * agent client, and the l402 tools let it pay other L402 APIs within the same caps and budgets. Environment: see
 * examples/paying-client.ts.
 */

import { l402Tools, paidChatOpenAI } from "@l402-gateway/agent-client/langchain";
import { type BaseMessage, HumanMessage, SystemMessage, ToolMessage } from "@langchain/core/messages";
import { firstModel, gatewayUrl, payingClient, printSpent, question } from "./paying-client.js";

const started = new Date();
const client = payingClient();
const tools = l402Tools(client);
const chat = paidChatOpenAI(client, { baseURL: `${gatewayUrl}/v1`, model: await firstModel(client), maxTokens: 32 });
const agent = chat.bindTools(tools);

const messages: BaseMessage[] = [
  new SystemMessage("Answer briefly. The l402_* tools call paid APIs; check the price with l402_quote first."),
  new HumanMessage(question),
];
// The tool loop: run what the model asks for until it answers (a few turns at most).
for (let turn = 0; turn < 5; turn += 1) {
  const reply = await agent.invoke(messages);
  messages.push(reply);
  if (!reply.tool_calls?.length) {
    console.log(reply.text);
    break;
  }
  for (const call of reply.tool_calls) {
    const tool = tools.find((candidate) => candidate.name === call.name);
    const message = tool ? await tool.invoke({ ...call, type: "tool_call" }) : undefined;
    messages.push(
      ToolMessage.isInstance(message)
        ? message
        : new ToolMessage({ content: `no tool ${call.name}`, tool_call_id: call.id ?? "" }),
    );
  }
}
await printSpent(client, started);
