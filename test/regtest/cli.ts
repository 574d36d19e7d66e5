/**
 * Manual control of the regtest network:
 *   npm run regtest:build   build (or find cached) btcd, btcctl, lnd, lncli
 *   npm run regtest:up      start a network that keeps running; details in .regtest/network.json
 *   npm run regtest:down    stop it and every process it started
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { relative } from "node:path";
import { ensureBinaries } from "./binaries.js";
import { credentialPaths } from "./lnd.js";
import { startNetwork } from "./network.js";
import { readNetworkFile } from "./network-file.js";
import { manualNetworkFile, REPO_ROOT } from "./paths.js";
import { reapOrphanedRuns, stopRecordedRun } from "./runs.js";

const shellQuote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`);

function recordedRunDir(): string | undefined {
  if (!existsSync(manualNetworkFile())) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(manualNetworkFile(), "utf8")) as { runDir?: unknown };
    return typeof parsed.runDir === "string" ? parsed.runDir : undefined;
  } catch {
    return undefined;
  }
}

async function up(): Promise<void> {
  const existing = recordedRunDir();
  if (existing && existsSync(existing)) {
    throw new Error(`A regtest network is already up (${existing}). Run 'npm run regtest:down' first.`);
  }
  const started = Date.now();
  const network = await startNetwork({ detached: true, networkFile: manualNetworkFile() });
  const info = network.info;
  const file = relative(REPO_ROOT, manualNetworkFile());
  console.log(`\nRegtest network ready in ${((Date.now() - started) / 1000).toFixed(1)} s. Details: ${file}`);
  for (const node of Object.values(info.nodes)) {
    console.log(`  ${node.alias}: gRPC ${node.socket}, ${node.p2pAddress}`);
    console.log(`    ${[node.lncli, ...node.lncliArgs, "getinfo"].map(shellQuote).join(" ")}`);
  }
  const alice = credentialPaths(info.nodes.alice.lnddir);
  console.log("To point the gateway (gateway/config/gateway.sample.yaml) at alice:");
  console.log(
    `  export L402_LND_SOCKET=${info.nodes.alice.socket} L402_LND_CERT_PATH=${alice.cert} L402_LND_MACAROON_PATH=${alice.invoiceMacaroon} L402_ADMIN_SECRET=$(openssl rand -base64 32)`,
  );
  console.log(`  btcd: ${[info.btcd.btcctl, ...info.btcd.btcctlArgs, "getblockcount"].map(shellQuote).join(" ")}`);
  console.log("Stop it with: npm run regtest:down");
}

async function down(): Promise<void> {
  const runDir = recordedRunDir();
  if (!runDir) {
    console.log(`No regtest network recorded in ${relative(REPO_ROOT, manualNetworkFile())}.`);
  } else {
    const stopped = await stopRecordedRun(runDir);
    console.log(stopped.length > 0 ? `Stopped ${stopped.join(", ")}.` : "Its processes had already exited.");
  }
  rmSync(manualNetworkFile(), { force: true });
  const reaped = await reapOrphanedRuns();
  if (reaped.length > 0) console.log(`Also stopped leftovers of crashed runs: ${reaped.join(", ")}.`);
}

async function status(): Promise<void> {
  const info = readNetworkFile();
  console.log(
    JSON.stringify({ runDir: info.runDir, btcd: info.btcd.rpcHost, nodes: Object.keys(info.nodes) }, null, 2),
  );
}

const commands: Record<string, () => Promise<unknown>> = { build: () => ensureBinaries(), up, down, status };
const command = process.argv[2] ?? "";
const run = commands[command];
if (!run) {
  console.error(`usage: tsx test/regtest/cli.ts <${Object.keys(commands).join("|")}>`);
  process.exit(2);
} else {
  run().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`regtest ${command} failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
