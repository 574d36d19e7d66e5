/**
 * Run by crash.test.ts in a child process: pays the gateway from bob's node through a file store and kills itself
 * with SIGKILL in the middle. argv: <gateway url> <store path> <"after-send" | "before-send">.
 * Bob's connection comes from L402_LND_SOCKET, L402_LND_CERT and L402_LND_MACAROON.
 */
import { createL402Client, FileStore, LndWallet, type Wallet } from "@l402-gateway/agent-client";

const [url, storePath, moment] = process.argv.slice(2);
const real = LndWallet.connect({
  socket: process.env.L402_LND_SOCKET ?? "",
  cert: process.env.L402_LND_CERT ?? "",
  macaroon: process.env.L402_LND_MACAROON ?? "",
});
const dying: Wallet = {
  pay: async (order) => {
    if (moment === "after-send") await real.pay(order);
    // No cleanup, no finally blocks: the process is gone as if the machine lost power.
    process.kill(process.pid, "SIGKILL");
    throw new Error("unreachable");
  },
  lookupPayment: (hash) => real.lookupPayment(hash),
  lookupIsAuthoritative: real.lookupIsAuthoritative,
};
await createL402Client({ wallet: dying, store: new FileStore(storePath ?? "") }).fetch(url ?? "");
