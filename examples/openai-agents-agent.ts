/**
 * An OpenAI Agents SDK agent that answers through the paid gateway: its chat-completions model pays for its own
 * turns through the agent client, and the l402 function tools let it pay other L402 APIs within the same caps and
 * budgets. Environment: see examples/paying-client.ts.
 */
import { l402Tools, paidChatCompletionsModel } from "@l402-gateway/agent-client/openai-agents";
import { Agent, run, setTracingDisabled } from "@openai/agents";
import { firstModel, gatewayUrl, payingClient, printSpent, question } from "./paying-client.js";

// Traces would be sent to OpenAI.
setTracingDisabled(true);
const started = new Date();
const client = payingClient();
const agent = new Agent({
  name: "paying agent",
  instructions: "Answer briefly. The l402_* tools call paid APIs; check the price with l402_quote first.",
  model: paidChatCompletionsModel(client, { baseURL: `${gatewayUrl}/v1`, model: await firstModel(client) }),
  modelSettings: { maxTokens: 32 },
  tools: l402Tools(client),
});

const result = await run(agent, question, { maxTurns: 5 });
console.log(result.finalOutput);
await printSpent(client, started);
