import { spawn } from "node:child_process";
import { join } from "node:path";
import { createL402Client, FileStore } from "@l402-gateway/agent-client";
import type { RunningGateway } from "@l402-gateway/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../regtest/paths.js";
import { startUpstream, type TestUpstream } from "../support/upstream.js";
import { added, bobPaymentHashes, bobWallet, network, startTestGateway, tempStorePath } from "./support.js";

/** Runs crash-child.ts and resolves with the signal that ended it. */
function runDoomedChild(url: string, storePath: string, moment: "after-send" | "before-send"): Promise<string | null> {
  return new Promise((resolveExit, rejectExit) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(REPO_ROOT, "test", "agent-client", "crash-child.ts"), url, storePath, moment],
      {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          L402_LND_SOCKET: network.nodes.bob.socket,
          L402_LND_CERT: network.nodes.bob.cert,
          L402_LND_MACAROON: network.nodes.bob.adminMacaroon,
        },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", rejectExit);
    child.on("exit", (code, signal) => {
      if (signal === null) rejectExit(new Error(`child exited with ${code} instead of being killed: ${stderr}`));
      else resolveExit(signal);
    });
  });
}

describe("a client killed with SIGKILL in the middle of a payment", () => {
  let upstream: TestUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startUpstream();
    gateway = await startTestGateway(upstream.url);
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("after the payment left: the next client finds it on LND and does not pay again", async () => {
    const storePath = tempStorePath();
    const before = await bobPaymentHashes();
    expect(await runDoomedChild(`${gateway.url}/v1/echo`, storePath, "after-send")).toBe("SIGKILL");
    const [pending] = (await new FileStore(storePath).read()).receipts;
    expect(pending?.status).toBe("pending");
    expect(added(before, await bobPaymentHashes())).toEqual([pending?.paymentHash]);

    const restarted = createL402Client({ wallet: bobWallet(), store: new FileStore(storePath) });
    expect((await restarted.fetch(`${gateway.url}/v1/echo`)).status).toBe(200);
    expect(added(before, await bobPaymentHashes())).toEqual([pending?.paymentHash]);
    expect(await restarted.receipts()).toMatchObject([{ status: "succeeded", paymentHash: pending?.paymentHash }]);
  });

  it("before the payment left: the dead process's pending payment is closed as failed and one new invoice is paid", async () => {
    const storePath = tempStorePath();
    const before = await bobPaymentHashes();
    expect(await runDoomedChild(`${gateway.url}/v1/echo`, storePath, "before-send")).toBe("SIGKILL");
    const [pending] = (await new FileStore(storePath).read()).receipts;
    expect(pending?.status).toBe("pending");
    expect(added(before, await bobPaymentHashes())).toEqual([]);

    const restarted = createL402Client({ wallet: bobWallet(), store: new FileStore(storePath) });
    expect((await restarted.fetch(`${gateway.url}/v1/echo`)).status).toBe(200);
    const receipts = await restarted.receipts();
    expect(receipts.map((receipt) => receipt.status).sort()).toEqual(["failed", "succeeded"]);
    const paid = receipts.find((receipt) => receipt.status === "succeeded");
    expect(added(before, await bobPaymentHashes())).toEqual([paid?.paymentHash]);
  });
});
