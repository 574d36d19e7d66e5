/**
 * Run by lock-race.test.ts, six at a time on one store: pays the gateway from bob's node through the library, with
 * the store's saved budget. The first store update (the one that checks the budget and records the payment as
 * pending) waits for "go" on stdin, which the test sends to all children at once. Prints the outcome as JSON.
 * argv: <url> <store path>. Bob's connection comes from L402_LND_SOCKET, L402_LND_CERT and L402_LND_MACAROON.
 */
import { type ClientState, createL402Client, FileStore, L402ClientError, LndWallet } from "@l402-gateway/agent-client";

const [url = "", storePath = ""] = process.argv.slice(2);

/** A FileStore whose first update starts only when the test says so: all children then race for the lock. */
class StartingLine extends FileStore {
  #go: Promise<void> | undefined;

  override update<T>(mutate: (state: ClientState) => T): Promise<T> {
    this.#go ??= new Promise<void>((resolveGo) => {
      process.stdout.write("ready\n");
      process.stdin.once("data", () => resolveGo());
    });
    return this.#go.then(() => super.update(mutate));
  }
}

const store = new StartingLine(storePath);
const client = createL402Client({
  wallet: LndWallet.connect({
    socket: process.env.L402_LND_SOCKET ?? "",
    cert: process.env.L402_LND_CERT ?? "",
    macaroon: process.env.L402_LND_MACAROON ?? "",
  }),
  store,
  budget: (await store.read()).budgetLimits,
  maxFeeSats: 0,
});
let outcome: string;
try {
  const response = await client.fetch(url);
  await response.body?.cancel();
  outcome = String(response.status);
} catch (error) {
  outcome = error instanceof L402ClientError ? error.code : String(error);
}
process.stdout.write(`${JSON.stringify({ outcome })}\n`);
process.exit(0);
