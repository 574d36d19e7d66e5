import { type Nip47Transaction, Nip47WalletError, NWCClient } from "@getalby/sdk/nwc";
import { WebSocket } from "ws";
import { z } from "zod";
import { L402ClientError } from "../errors.js";
import { outcomeFromLookup } from "./outcome.js";
import type { PaymentLookup, PaymentOrder, PaymentResult, Wallet } from "./wallet.js";

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);

/** NIP-47 error codes after which the wallet service certainly did not pay (and will not). */
const NOT_PAID = new Set([
  "PAYMENT_FAILED",
  "INSUFFICIENT_BALANCE",
  "QUOTA_EXCEEDED",
  "RATE_LIMITED",
  "RESTRICTED",
  "UNAUTHORIZED",
  "NOT_IMPLEMENTED",
  "UNSUPPORTED_ENCRYPTION",
]);

export class NwcUriError extends Error {
  override readonly name = "NwcUriError";
}

/**
 * Reads a `nostr+walletconnect://<wallet pubkey>?relay=<ws(s) URL>&secret=<hex>` URI. Errors name what is wrong and
 * never repeat the URI: its secret spends the wallet's funds.
 */
export function parseNwcUri(uri: string): { walletPubkey: string; relayUrls: string[]; secret: string } {
  const match = /^nostr\+walletconnect:(?:\/\/)?([^?]*)\?(.*)$/s.exec(uri.trim());
  if (!match) throw new NwcUriError("the NWC URI must be nostr+walletconnect://<wallet pubkey>?relay=…&secret=…");
  const params = new URLSearchParams(match[2]);
  const walletPubkey = match[1] ?? "";
  if (!hex64.safeParse(walletPubkey).success) throw new NwcUriError("the NWC URI's wallet pubkey is not 64 hex digits");
  const relayUrls = params.getAll("relay");
  if (relayUrls.length === 0 || !relayUrls.every((url) => URL.canParse(url) && /^wss?:$/.test(new URL(url).protocol))) {
    throw new NwcUriError("the NWC URI needs at least one relay=ws:// or wss:// URL");
  }
  const secret = params.get("secret") ?? "";
  if (!hex64.safeParse(secret).success) throw new NwcUriError("the NWC URI's secret is not 64 hex digits");
  return { walletPubkey, relayUrls, secret };
}

/**
 * Pays through a Nostr Wallet Connect (NIP-47) wallet service with `@getalby/sdk`: `pay_invoice` to pay,
 * `lookup_invoice` by payment hash to learn the outcome of a payment left pending, `get_balance` where the service
 * offers it. Caps and budgets are the client's, enforced before the request is sent; NIP-47 has no routing-fee limit,
 * so the fee is the wallet service's own (the receipt records what it reports).
 */
export class NwcWallet implements Wallet {
  readonly #client: NWCClient;

  private constructor(client: NWCClient) {
    this.#client = client;
  }

  /** From a `nostr+walletconnect://` URI (read it from a file or the environment; never log it). */
  static fromUri(uri: string): NwcWallet {
    const { walletPubkey, relayUrls, secret } = parseNwcUri(uri);
    // Node 20 has no global WebSocket, which the SDK's relay connections use; Node 22 has one.
    const scope = globalThis as { WebSocket?: unknown };
    scope.WebSocket ??= WebSocket;
    return new NwcWallet(new NWCClient({ walletPubkey, relayUrls, secret }));
  }

  async pay(order: PaymentOrder): Promise<PaymentResult> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(resolve, order.timeoutMs, "timeout");
    });
    try {
      const answer = await Promise.race([this.#client.payInvoice({ invoice: order.invoice }), timedOut]);
      if (answer === "timeout")
        return await outcomeFromLookup(this, order.paymentHash, `no answer after ${order.timeoutMs} ms`, false);
      const preimage = hex64.safeParse(answer.preimage);
      if (!preimage.success)
        return await outcomeFromLookup(this, order.paymentHash, "the wallet returned no valid preimage", false);
      return { paymentHash: order.paymentHash, preimage: preimage.data, feeSats: msatToSats(answer.fees_paid) };
    } catch (error) {
      if (error instanceof Nip47WalletError && NOT_PAID.has(error.code)) {
        throw new L402ClientError("payment_failed", `the NWC wallet refused to pay: ${error.code}: ${error.message}`, {
          paymentHash: order.paymentHash,
        });
      }
      // A timeout, a lost relay or an internal error: the wallet may have paid; ask it. A payment it has not heard
      // of may still be on its way to it, so that is kept pending too.
      return await outcomeFromLookup(this, order.paymentHash, describe(error), false);
    } finally {
      clearTimeout(timer);
    }
  }

  async lookupPayment(paymentHash: string): Promise<PaymentLookup> {
    let transaction: Nip47Transaction;
    try {
      transaction = await this.#client.lookupInvoice({ payment_hash: paymentHash });
    } catch (error) {
      if (error instanceof Nip47WalletError && error.code === "NOT_FOUND") return { status: "unknown" };
      throw new Error(`the NWC wallet could not look up payment ${paymentHash}: ${describe(error)}`, { cause: error });
    }
    if (transaction.payment_hash !== paymentHash) {
      throw new Error(`the NWC wallet answered a lookup of ${paymentHash} with another payment`);
    }
    switch (transaction.state) {
      case "settled": {
        const preimage = hex64.safeParse(transaction.preimage);
        if (!preimage.success) return { status: "pending" };
        return {
          status: "succeeded",
          paymentHash,
          preimage: preimage.data,
          feeSats: msatToSats(transaction.fees_paid),
        };
      }
      case "failed":
        return { status: "failed", reason: "the NWC wallet reports the payment failed" };
      default:
        return { status: "pending" };
    }
  }

  /** The wallet's spendable balance in msat (NIP-47 get_balance), where the service offers it. */
  async balanceMsat(): Promise<number> {
    return (await this.#client.getBalance()).balance;
  }

  /** Closes the relay connections. */
  close(): void {
    this.#client.close();
  }
}

function msatToSats(msat: number | undefined): number {
  return Math.ceil((msat ?? 0) / 1000);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
