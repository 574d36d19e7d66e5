import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import {
  added,
  bobPaymentHashes,
  expectBooksToBalance,
  LLM_PRICE_SATS,
  network,
  tempStorePath,
} from "../agent-client/support.js";
import { REPO_ROOT } from "../regtest/paths.js";
import { MODEL_TEST_TIMEOUT_MS, usePaidLlmGateway } from "./support.js";

const run = promisify(execFile);

describe("the framework examples, run as the README shows, against the gateway with the default model", () => {
  const paid = usePaidLlmGateway();

  it.each(["langchain-agent.ts", "ai-sdk-agent.ts", "openai-agents-agent.ts"])(
    "examples/%s answers one question and prints the sats it spent",
    async (example) => {
      const before = await bobPaymentHashes();
      const { stdout, stderr } = await run(
        process.execPath,
        ["--import", "tsx", join("examples", example), "Say hi."],
        {
          cwd: REPO_ROOT,
          env: {
            PATH: process.env.PATH ?? "",
            HOME: process.env.HOME ?? "",
            L402_GATEWAY_URL: paid.gateway.url,
            L402_STORE: tempStorePath(),
            L402_LND_SOCKET: network.nodes.bob.socket,
            L402_LND_CERT: network.nodes.bob.cert,
            L402_LND_MACAROON: network.nodes.bob.adminMacaroon,
          },
        },
      );
      expect(stdout.trim().length).toBeGreaterThan(0);
      // A fresh store: the model listing buys the llm token, and the answer rides on it.
      expect(stderr).toContain(`spent ${LLM_PRICE_SATS} sats in 1 payment(s)`);
      expect(added(before, await bobPaymentHashes())).toHaveLength(1);
    },
    MODEL_TEST_TIMEOUT_MS,
  );

  it("keeps the books: LND's settlements and the gateway's tokens agree", async () => {
    await expectBooksToBalance(paid.storePath);
  });
});
