import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, type RunningGateway, startGateway } from "@l402-gateway/gateway";
import { DEFAULT_MODEL, fetchDefaultModel, type RunningServer, startServer } from "@l402-gateway/llm-backend";
import pino from "pino";
import { ensureBinaries } from "../test/regtest/binaries.js";
import { type RegtestNetwork, startNetwork } from "../test/regtest/network.js";
import { gatewayLndConfig } from "../test/regtest/network-file.js";

/** An LND node to use instead of the local regtest one: gRPC host:port, base64 TLS cert, base64/hex macaroon. */
export interface LndConnection {
  readonly socket: string;
  readonly cert: string;
  readonly macaroon: string;
}

export interface DemoOptions {
  /** A GGUF path or an `hf:` URI; the default model is fetched and cached when absent. */
  readonly model?: string;
  /** Existing nodes: the operator's (invoices) and the agent's (payments). Without them a regtest network starts. */
  readonly lnd?: { readonly operator: LndConnection; readonly agent: LndConnection };
  readonly log: (line: string) => void;
}

export interface DemoStack {
  readonly backend: RunningServer;
  readonly gateway: RunningGateway;
  readonly modelId: string;
  /** The node the agent pays from. */
  readonly agentLnd: LndConnection;
  readonly adminSecret: string;
  stop(): Promise<void>;
}

/** The sample prices: per token, with a fee, and a surge multiplier that follows the backend's queue. */
export const DEMO_PRICING = {
  rules: [{ tokens: { promptMsatPerToken: 10, completionMsatPerToken: 40 }, feeMsat: 500 }],
  defaultMaxTokens: 128,
  maxTokensCap: 512,
  deposit: { minMsat: 1_000, maxMsat: 10_000_000 },
  surge: { pollIntervalMs: 500 },
};

/** The LLM backend on the default model, the gateway selling it by the token, and Lightning to pay with. */
export async function startDemoStack(options: DemoOptions): Promise<DemoStack> {
  const { log } = options;
  let network: RegtestNetwork | undefined;
  const started: { backend?: RunningServer; gateway?: RunningGateway } = {};
  try {
    log("1/4 model");
    const modelPath = options.model ?? (await fetchDefaultModel((line) => log(`    ${line}`)));
    let operator: LndConnection;
    let agent: LndConnection;
    if (options.lnd) {
      log("2/4 Lightning: using the LND nodes you configured");
      ({ operator, agent } = options.lnd);
    } else {
      log("2/4 Lightning binaries (built once from the Go module proxy, then cached)");
      await ensureBinaries((line) => log(`    ${line}`));
      log("3/4 regtest network: btcd, alice (operator), bob (agent), a channel bob→alice");
      network = await startNetwork({ log: (line) => log(`    ${line}`) });
      const { alice, bob } = network.info.nodes;
      operator = gatewayLndConfig(alice);
      agent = { socket: bob.socket, cert: bob.cert, macaroon: bob.adminMacaroon };
    }
    log("4/4 llm-backend and gateway");
    started.backend = await startServer(
      { model: modelPath, port: 0, host: "127.0.0.1", logLevel: "warn" },
      { waitUntilReady: true },
    );
    const adminSecret = randomBytes(32).toString("base64url");
    started.gateway = await startGateway(
      parseConfig({
        listen: { port: 0 },
        operator: { port: 0 },
        admin: { port: 0, secret: adminSecret },
        lnd: operator,
        store: { path: join(mkdtempSync(join(tmpdir(), "l402-demo-")), "gateway.sqlite") },
        log: { level: "warn" },
        services: [
          {
            name: "llm",
            match: { pathPrefix: "/v1/" },
            upstream: started.backend.url,
            pricing: DEMO_PRICING,
            capabilities: ["chat", "completions"],
            freePaths: ["/v1/models"],
          },
        ],
      }),
      { log: pino({ level: "warn" }) },
    );
    const { backend, gateway } = started;
    const ownNetwork = network;
    return {
      backend,
      gateway,
      agentLnd: agent,
      adminSecret,
      modelId: (options.model ?? DEFAULT_MODEL.fileName).replace(/^.*\//, "").replace(/\.gguf$/, ""),
      stop: async () => {
        await gateway.close();
        await backend.close();
        await ownNetwork?.stop();
      },
    };
  } catch (error) {
    await started.gateway?.close();
    await started.backend?.close();
    await network?.stop();
    throw error;
  }
}
