/**
 * A Vercel AI SDK agent that answers through the paid gateway: the OpenAI-compatible provider pays for its own
 * completions through the agent client, and the l402 tools let it pay other L402 APIs within the same caps and
 * budgets. Environment: see examples/paying-client.ts.
 */
import { l402Tools, paidOpenAICompatible } from "@l402-gateway/agent-client/ai-sdk";
import { generateText, stepCountIs } from "ai";
import { firstModel, gatewayUrl, payingClient, printSpent, question } from "./paying-client.js";

const started = new Date();
const client = payingClient();
const provider = paidOpenAICompatible(client, { baseURL: `${gatewayUrl}/v1` });

const { text } = await generateText({
  model: provider(await firstModel(client)),
  system: "Answer briefly. The l402_* tools call paid APIs; check the price with l402_quote first.",
  prompt: question,
  tools: l402Tools(client),
  stopWhen: stepCountIs(5),
  maxOutputTokens: 32,
});
console.log(text);
await printSpent(client, started);
