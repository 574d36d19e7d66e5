import { randomBytes } from "node:crypto";
import {
  type Nip47Transaction,
  NWCClient,
  NWCWalletService,
  NWCWalletServiceKeyPair,
  type NWCWalletServiceRequestHandler,
} from "@getalby/sdk/nwc";
import { type AuthenticatedLnd, getChannelBalance, getPayment, pay } from "lightning";
import { WebSocket } from "ws";

export interface NwcService {
  /** The nostr+walletconnect:// URI a client connects with (its secret included). */
  readonly uri: string;
  /** NIP-47 requests the service answered, by method. */
  readonly requests: Record<string, number>;
  /** What a NIP-47 request or response event says, read with the service's key (what a test's relay cannot). */
  inspect(event: { kind: number; content: string; tags: string[][] }): Promise<Nip47Content | undefined>;
  close(): void;
}

/** A request's method, or a response's result type and error code. */
export type Nip47Content =
  | { readonly kind: "request"; readonly method: string }
  | { readonly kind: "response"; readonly resultType: string; readonly errorCode: string | undefined };

const MAX_FEE_SATS = 10;

function failure(code: string, message: string) {
  return { result: undefined, error: { code, message } };
}

/**
 * A NIP-47 wallet service (the SDK's wallet-service side) on `relayUrl` that pays from `lnd`: pay_invoice,
 * lookup_invoice by payment hash (outgoing payments, from LND's record), get_balance (the channel balance).
 */
export async function startNwcWalletService(relayUrl: string, lnd: AuthenticatedLnd): Promise<NwcService> {
  // Node 20 has no global WebSocket; the SDK's relay connections need one.
  (globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;
  const walletSecret = randomBytes(32).toString("hex");
  const clientSecret = randomBytes(32).toString("hex");
  const clientPubkey = new NWCClient({ secret: clientSecret, walletPubkey: "0".repeat(64), relayUrls: [relayUrl] })
    .publicKey;
  const keypair = new NWCWalletServiceKeyPair(walletSecret, clientPubkey);
  const requests: Record<string, number> = {};
  const count = (method: string) => {
    requests[method] = (requests[method] ?? 0) + 1;
  };
  // The invoices this service was asked to pay, by payment hash: lookups answer with them.
  const invoices = new Map<string, string>();

  const transaction = (paymentHash: string, fields: Partial<Nip47Transaction>): Nip47Transaction => ({
    type: "outgoing",
    state: "pending",
    invoice: invoices.get(paymentHash) ?? "",
    description: "",
    description_hash: "",
    preimage: "",
    payment_hash: paymentHash,
    amount: 0,
    fees_paid: 0,
    settled_at: 0,
    created_at: Math.floor(Date.now() / 1000),
    expires_at: 0,
    ...fields,
  });

  const handler: NWCWalletServiceRequestHandler = {
    async getInfo() {
      count("get_info");
      return {
        result: {
          alias: "bob",
          color: "#000000",
          pubkey: keypair.walletPubkey,
          network: "regtest",
          block_height: 0,
          block_hash: "",
          methods: ["pay_invoice", "lookup_invoice", "get_balance", "get_info"],
        },
        error: undefined,
      };
    },
    async payInvoice(request) {
      count("pay_invoice");
      try {
        const paid = await pay({ lnd, request: request.invoice, max_fee: MAX_FEE_SATS });
        invoices.set(paid.id, request.invoice);
        return { result: { preimage: paid.secret, fees_paid: Number(paid.fee_mtokens) }, error: undefined };
      } catch (error) {
        return failure("PAYMENT_FAILED", JSON.stringify(error));
      }
    },
    async lookupInvoice(request) {
      count("lookup_invoice");
      const paymentHash = request.payment_hash ?? "";
      try {
        const payment = await getPayment({ lnd, id: paymentHash });
        invoices.set(paymentHash, invoices.get(paymentHash) ?? payment.payment?.request ?? "lnbcrt-unknown");
        if (payment.is_confirmed && payment.payment) {
          return {
            result: transaction(paymentHash, {
              state: "settled",
              preimage: payment.payment.secret,
              fees_paid: Number(payment.payment.fee_mtokens),
              amount: Number(payment.payment.mtokens),
              settled_at: Math.floor(Date.now() / 1000),
            }),
            error: undefined,
          };
        }
        return {
          result: transaction(paymentHash, { state: payment.is_failed ? "failed" : "pending" }),
          error: undefined,
        };
      } catch (error) {
        if (Array.isArray(error) && error[0] === 404) return failure("NOT_FOUND", "no payment with this hash");
        return failure("INTERNAL", JSON.stringify(error));
      }
    },
    async getBalance() {
      count("get_balance");
      const balance = await getChannelBalance({ lnd });
      return {
        result: { balance: Number(balance.channel_balance_mtokens ?? balance.channel_balance * 1000) },
        error: undefined,
      };
    },
  };

  const service = new NWCWalletService({ relayUrl });
  await service.publishWalletServiceInfoEvent(
    walletSecret,
    ["pay_invoice", "lookup_invoice", "get_balance", "get_info"],
    [],
  );
  const unsubscribe = await service.subscribe(keypair, handler);
  return {
    uri: `nostr+walletconnect://${keypair.walletPubkey}?relay=${encodeURIComponent(relayUrl)}&secret=${clientSecret}`,
    requests,
    async inspect(event) {
      if (event.kind !== 23194 && event.kind !== 23195) return undefined;
      // A response is encrypted like the request it answers; try both encryptions.
      for (const encryption of ["nip44_v2", "nip04"] as const) {
        try {
          const content = JSON.parse(await service.decrypt(keypair, event.content, encryption)) as {
            method?: string;
            result_type?: string;
            error?: { code?: string } | null;
          };
          if (event.kind === 23194) return { kind: "request", method: content.method ?? "" };
          return { kind: "response", resultType: content.result_type ?? "", errorCode: content.error?.code };
        } catch {}
      }
      return undefined;
    },
    close() {
      unsubscribe();
      service.close();
    },
  };
}
