import { createHash } from "node:crypto";
import { z } from "zod";
import { Nip47Connection, type Nip47Reply } from "./nip47.js";
import { outcomeFromLookup } from "./outcome.js";
import type { PaymentLookup, PaymentOrder, PaymentResult, Wallet } from "./wallet.js";

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);

/** How long a lookup_invoice may take by default. */
const DEFAULT_LOOKUP_TIMEOUT_MS = 10_000;

const payResultSchema = z.object({ preimage: z.string(), fees_paid: z.number().nonnegative().optional() });

const transactionSchema = z.object({
  payment_hash: z.string(),
  state: z.string().optional(),
  preimage: z.string().nullish(),
  fees_paid: z.number().nonnegative().nullish(),
});

export interface NwcWalletOptions {
  /** The most a lookup_invoice or get_balance request may take; default 10 s. */
  readonly requestTimeoutMs?: number;
}

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
 * Pays through a Nostr Wallet Connect (NIP-47) wallet service: `pay_invoice` to pay, `lookup_invoice` by payment hash
 * to learn a payment's outcome, `get_balance` where the service offers it. Requests go over nostr-tools (see
 * Nip47Connection): every one within a deadline this client sets, replies matched to their request.
 *
 * A relay can hold back, delay, replay and reorder events, so the reply to `pay_invoice` proves a success only by
 * its preimage; an error reply is checked with `lookup_invoice` before the payment is called failed (a replayed
 * request answers "already paid" with PAYMENT_FAILED). A wallet service that never heard of a payment hash does not
 * prove it unpaid: the request may still be on its way, so `lookupIsAuthoritative` is false and such a payment stays
 * pending. Caps and budgets are the client's, enforced before the request is sent; NIP-47 has no routing-fee limit,
 * so the fee is the wallet service's own (the receipt records what it reports).
 */
export class NwcWallet implements Wallet {
  readonly lookupIsAuthoritative = false;
  readonly #connection: Nip47Connection;
  readonly #requestTimeoutMs: number;

  private constructor(connection: Nip47Connection, options: NwcWalletOptions) {
    this.#connection = connection;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_LOOKUP_TIMEOUT_MS;
  }

  /** From a `nostr+walletconnect://` URI (read it from a file or the environment; never log it). */
  static fromUri(uri: string, options: NwcWalletOptions = {}): NwcWallet {
    return new NwcWallet(new Nip47Connection(parseNwcUri(uri)), options);
  }

  /**
   * Settles within `order.timeoutMs` for the pay_invoice reply plus one lookup_invoice of at most the request
   * timeout (and no longer than `order.timeoutMs`).
   */
  async pay(order: PaymentOrder): Promise<PaymentResult> {
    const { paymentHash } = order;
    const lookupMs = Math.min(order.timeoutMs, this.#requestTimeoutMs);
    const lookup = { lookupPayment: (hash: string) => this.#lookup(hash, lookupMs) };
    let reply: Nip47Reply;
    try {
      reply = await this.#connection.request("pay_invoice", { invoice: order.invoice }, order.timeoutMs);
    } catch (error) {
      // No reply in time, or no relay took the request: the wallet service may have paid or may still pay.
      return await outcomeFromLookup(lookup, paymentHash, describe(error), false);
    }
    if (!reply.ok) {
      return await outcomeFromLookup(
        lookup,
        paymentHash,
        `the NWC wallet answered ${reply.code}${reply.message ? `: ${reply.message}` : ""}`,
        false,
      );
    }
    const paid = payResultSchema.safeParse(reply.result);
    if (paid.success && proves(paid.data.preimage, paymentHash)) {
      return { paymentHash, preimage: paid.data.preimage, feeSats: msatToSats(paid.data.fees_paid) };
    }
    return await outcomeFromLookup(lookup, paymentHash, "the NWC wallet returned no valid preimage", false);
  }

  lookupPayment(paymentHash: string): Promise<PaymentLookup> {
    return this.#lookup(paymentHash, this.#requestTimeoutMs);
  }

  async #lookup(paymentHash: string, timeoutMs: number): Promise<PaymentLookup> {
    let reply: Nip47Reply;
    try {
      reply = await this.#connection.request("lookup_invoice", { payment_hash: paymentHash }, timeoutMs);
    } catch (error) {
      throw new Error(`the NWC wallet could not look up payment ${paymentHash}: ${describe(error)}`, { cause: error });
    }
    if (!reply.ok) {
      if (reply.code === "NOT_FOUND") return { status: "unknown" };
      throw new Error(`the NWC wallet could not look up payment ${paymentHash}: ${reply.code} ${reply.message}`);
    }
    const transaction = transactionSchema.safeParse(reply.result);
    if (!transaction.success) throw new Error(`the NWC wallet answered a lookup of ${paymentHash} with no transaction`);
    if (transaction.data.payment_hash !== paymentHash) {
      throw new Error(`the NWC wallet answered a lookup of ${paymentHash} with another payment`);
    }
    const { state, preimage, fees_paid } = transaction.data;
    if (typeof preimage === "string" && proves(preimage, paymentHash)) {
      return { status: "succeeded", paymentHash, preimage, feeSats: msatToSats(fees_paid ?? 0) };
    }
    if (state === "failed") return { status: "failed", reason: "the NWC wallet reports the payment failed" };
    return { status: "pending" };
  }

  /** The wallet's spendable balance in msat (NIP-47 get_balance), where the service offers it. */
  async balanceMsat(): Promise<number> {
    const reply = await this.#connection.request("get_balance", {}, this.#requestTimeoutMs);
    if (!reply.ok) throw new Error(`the NWC wallet did not give its balance: ${reply.code} ${reply.message}`);
    return z.object({ balance: z.number() }).parse(reply.result).balance;
  }

  /** Closes the relay connections. */
  close(): void {
    this.#connection.close();
  }
}

/** A preimage proves a payment only if its SHA-256 is the payment hash. */
function proves(preimage: string, paymentHash: string): boolean {
  return (
    hex64.safeParse(preimage).success &&
    createHash("sha256").update(Buffer.from(preimage, "hex")).digest("hex") === paymentHash
  );
}

function msatToSats(msat: number | undefined): number {
  return Math.ceil((msat ?? 0) / 1000);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
