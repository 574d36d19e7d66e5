/**
 * The gateway as operators run it, for the benchmark: `l402-gateway --config <yaml>` (the CLI, its defaults), a SQLite
 * file store (or PostgreSQL), the regtest operator node (alice) with the settlement watcher running, request logging
 * at the default level, written to a file as a service manager would. Only the challenge rate limits are raised, so
 * that the challenge benchmark measures invoices rather than the limiter. Its paid token is bought from bob for real.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, mkdtempSync, openSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseChallenge } from "@l402-gateway/l402";
import { pay } from "lightning";
import { gatewayLndConfig, lndClient, type RegtestNetworkInfo } from "../../test/regtest/network-file.js";
import { allocatePorts, LOOPBACK } from "../../test/regtest/ports.js";

export interface OperatorGatewayOptions {
  readonly network: RegtestNetworkInfo;
  readonly upstream: string;
  /** PostgreSQL URL, or undefined for a SQLite file. */
  readonly postgresUrl?: string;
  /** Extra node options (`--cpu-prof`). */
  readonly nodeArgs?: readonly string[];
  /** The checkout whose CLI is started (built): this one when absent, another to compare against. */
  readonly checkout?: string;
}

export interface OperatorGateway {
  readonly url: string;
  readonly authorization: string;
  readonly child: ChildProcess;
  /** Where its log lines go (stdout), as a service manager would keep them. */
  readonly logFile: string;
}

const thisCheckout = join(import.meta.dirname, "..", "..");

/** The YAML an operator would write: nothing set that the README does not ask for, bar the challenge limits. */
function configYaml(options: OperatorGatewayOptions, dir: string, port: number, operatorPort: number): string {
  const lnd = gatewayLndConfig(options.network.nodes.alice);
  const store = options.postgresUrl
    ? ["store:", "  postgres:", `    url: "${options.postgresUrl}"`]
    : ["store:", `  path: "${join(dir, "gateway.sqlite")}"`];
  return [
    "listen:",
    `  host: "${LOOPBACK}"`,
    `  port: ${port}`,
    "operator:",
    `  host: "${LOOPBACK}"`,
    `  port: ${operatorPort}`,
    "lnd:",
    `  socket: "${lnd.socket}"`,
    `  cert: "${lnd.cert}"`,
    `  macaroon: "${lnd.macaroon}"`,
    ...store,
    "limits:",
    "  challengesPerMinute: 1000000",
    "  challengeBurst: 1000000",
    "services:",
    "  - name: llm",
    "    match:",
    '      pathPrefix: "/v1/"',
    `    upstream: "${options.upstream}"`,
    "    price:",
    "      sats: 1",
    "    freePaths:",
    '      - "/v1/free"',
    "",
  ].join("\n");
}

async function waitForHealth(url: string, child: ChildProcess): Promise<void> {
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`the operator gateway exited (${String(code)}) before it listened`);
  });
  const ready = (async () => {
    for (;;) {
      try {
        const res = await fetch(`${url}/healthz`);
        await res.arrayBuffer();
        if (res.ok) return;
      } catch {}
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  await Promise.race([ready, exited]);
}

/** Starts the CLI on a fresh config, buys one fixed-price token from bob, and returns what the load needs. */
export async function startOperatorGateway(options: OperatorGatewayOptions): Promise<OperatorGateway> {
  const dir = mkdtempSync(join(tmpdir(), "bench-operator-"));
  const [port, operatorPort] = await allocatePorts(2);
  const configFile = join(dir, "gateway.yaml");
  writeFileSync(configFile, configYaml(options, dir, port as number, operatorPort as number));
  const logFile = join(dir, "gateway.log");
  const out = openSync(logFile, "a");
  const cli = join(options.checkout ?? thisCheckout, "gateway", "bin", "l402-gateway.js");
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), cli, "--config", configFile], {
    stdio: ["ignore", out, "inherit"],
  });
  closeSync(out);
  const url = `http://${LOOPBACK}:${port}`;
  await waitForHealth(`http://${LOOPBACK}:${operatorPort}`, child);
  const unpaid = await fetch(`${url}/v1/completions`);
  await unpaid.arrayBuffer();
  const challenge = parseChallenge(unpaid.headers.get("www-authenticate") ?? "");
  const paid = await pay({ lnd: lndClient(options.network.nodes.bob), request: challenge.invoice });
  const authorization = `L402 ${challenge.macaroon}:${paid.secret}`;
  const check = await fetch(`${url}/v1/completions`, { headers: { authorization } });
  await check.arrayBuffer();
  if (check.status !== 200) throw new Error(`the operator gateway refused its paid token: ${check.status}`);
  return { url, authorization, child, logFile };
}
