import * as nip04 from "nostr-tools/nip04";
import * as nip44 from "nostr-tools/nip44";
import { SimplePool, useWebSocketImplementation } from "nostr-tools/pool";
import { type Event, finalizeEvent } from "nostr-tools/pure";
import { WebSocket } from "ws";
import { z } from "zod";

// Node 20 has no global WebSocket; `ws` works on every supported Node.
useWebSocketImplementation(WebSocket);

/** NIP-47 event kinds: the wallet service's info, a client's request, the service's response. */
export const NIP47_INFO_KIND = 13194;
export const NIP47_REQUEST_KIND = 23194;
export const NIP47_RESPONSE_KIND = 23195;

type Encryption = "nip44_v2" | "nip04";

export interface Nip47ConnectionOptions {
  readonly walletPubkey: string;
  readonly relayUrls: readonly string[];
  /** The client's secret key, 64 hex digits. */
  readonly secret: string;
}

/** The wallet service's own answer: a result, or an error with its NIP-47 code. */
export type Nip47Reply =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly code: string; readonly message: string };

/** No answer in time: the request may still reach the wallet service, or may have been handled already. */
export class Nip47TimeoutError extends Error {
  override readonly name = "Nip47TimeoutError";
}

const replySchema = z.object({
  result_type: z.string(),
  result: z.unknown().optional(),
  error: z.object({ code: z.string(), message: z.string().optional() }).nullish(),
});

/**
 * NIP-47 requests over nostr-tools, each within a deadline the caller sets (connecting, choosing the encryption,
 * publishing and waiting for the reply included; nothing of it runs on afterwards). A request carries a NIP-40
 * `expiration` at its deadline, which a wallet service honours by ignoring it if it arrives later. A reply counts
 * only if it is signed by the wallet service, references this request's event id, decrypts, and names the method
 * asked: the first such reply settles the request, anything else (replayed replies to other requests, duplicates,
 * garbage) is ignored.
 */
export class Nip47Connection {
  readonly #options: Nip47ConnectionOptions;
  readonly #secretKey: Uint8Array;
  readonly #relayUrls: string[];
  readonly #pool = new SimplePool({ enableReconnect: false });
  #encryption: Encryption | undefined;

  constructor(options: Nip47ConnectionOptions) {
    this.#options = options;
    this.#secretKey = Uint8Array.from(Buffer.from(options.secret, "hex"));
    this.#relayUrls = [...options.relayUrls];
  }

  /** Sends `method` and waits at most `timeoutMs` for its reply; rejects with Nip47TimeoutError after that. */
  request(method: string, params: Record<string, unknown>, timeoutMs: number): Promise<Nip47Reply> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new Nip47TimeoutError(`no ${method} reply from the NWC wallet service within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    // The request expires with the deadline, counted from now (choosing the encryption may take part of it).
    const expiresAt = Math.ceil((Date.now() + timeoutMs) / 1000);
    const exchange = this.#exchange(method, params, expiresAt, timeoutMs, controller.signal);
    // Whichever loses the race must not surface as an unhandled rejection.
    exchange.catch(() => undefined);
    return Promise.race([exchange, deadline]).finally(() => {
      clearTimeout(timer);
      controller.abort();
    });
  }

  close(): void {
    this.#pool.close(this.#relayUrls);
    this.#pool.destroy();
  }

  async #exchange(
    method: string,
    params: Record<string, unknown>,
    expiresAt: number,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<Nip47Reply> {
    const { walletPubkey } = this.#options;
    const encryption = await this.#chooseEncryption(timeoutMs, signal);
    const request = finalizeEvent(
      {
        kind: NIP47_REQUEST_KIND,
        created_at: Math.floor(Date.now() / 1000),
        tags: [
          ["p", walletPubkey],
          ["encryption", encryption],
          ["expiration", String(expiresAt)],
        ],
        content: this.#encrypt(encryption, JSON.stringify({ method, params })),
      },
      this.#secretKey,
    );
    signal.throwIfAborted();
    return new Promise<Nip47Reply>((resolve, reject) => {
      let subscribed: () => void = () => undefined;
      const listening = new Promise<void>((resolveListening) => {
        subscribed = resolveListening;
      });
      const subscription = this.#pool.subscribe(
        this.#relayUrls,
        { kinds: [NIP47_RESPONSE_KIND], authors: [walletPubkey], "#e": [request.id] },
        {
          abort: signal,
          oneose: subscribed,
          onevent: (event) => {
            const reply = this.#readReply(event, request.id, method, encryption);
            if (!reply) return;
            subscription.close();
            resolve(reply);
          },
        },
      );
      signal.addEventListener("abort", () => subscription.close(), { once: true });
      // Publish once the relays listen for the reply, so that a fast reply cannot pass unseen.
      listening
        .then(() => Promise.any(this.#pool.publish(this.#relayUrls, request, { abort: signal })))
        .catch((error: unknown) => {
          subscription.close();
          reject(new Error(`no relay took the ${method} request: ${describe(error)}`, { cause: error }));
        });
    });
  }

  #readReply(event: Event, requestId: string, method: string, encryption: Encryption): Nip47Reply | undefined {
    if (
      event.kind !== NIP47_RESPONSE_KIND ||
      event.pubkey !== this.#options.walletPubkey ||
      !event.tags.some((tag) => tag[0] === "e" && tag[1] === requestId)
    ) {
      return undefined;
    }
    let parsed: z.infer<typeof replySchema>;
    try {
      parsed = replySchema.parse(JSON.parse(this.#decrypt(encryption, event.content)));
    } catch {
      return undefined;
    }
    if (parsed.result_type !== method) return undefined;
    if (parsed.error) return { ok: false, code: parsed.error.code, message: parsed.error.message ?? "" };
    return { ok: true, result: parsed.result };
  }

  /** NIP-44 where the wallet service's info event offers it, else NIP-04 (as the Alby SDK chooses). */
  async #chooseEncryption(timeoutMs: number, signal: AbortSignal): Promise<Encryption> {
    if (this.#encryption) return this.#encryption;
    const info = await new Promise<Event | undefined>((resolve) => {
      let found: Event | undefined;
      const subscription = this.#pool.subscribe(
        this.#relayUrls,
        { kinds: [NIP47_INFO_KIND], authors: [this.#options.walletPubkey], limit: 1 },
        {
          abort: signal,
          maxWait: timeoutMs,
          onevent: (event) => {
            if (!found || event.created_at > found.created_at) found = event;
          },
          oneose: () => {
            subscription.close();
            resolve(found);
          },
          onclose: () => resolve(found),
        },
      );
    });
    signal.throwIfAborted();
    if (!info) throw new Error("the NWC wallet service published no info event (kind 13194) on its relays");
    const offered =
      info.tags.find((tag) => tag[0] === "encryption")?.[1]?.split(" ") ??
      (info.tags.some((tag) => tag[0] === "v" && tag[1]?.includes("1.0")) ? ["nip04", "nip44_v2"] : ["nip04"]);
    const chosen = offered.includes("nip44_v2") ? "nip44_v2" : offered.includes("nip04") ? "nip04" : undefined;
    if (!chosen) throw new Error(`the NWC wallet service offers no encryption this client has (${offered.join(" ")})`);
    this.#encryption = chosen;
    return chosen;
  }

  #encrypt(encryption: Encryption, plaintext: string): string {
    if (encryption === "nip04") return nip04.encrypt(this.#secretKey, this.#options.walletPubkey, plaintext);
    return nip44.v2.encrypt(plaintext, this.#conversationKey());
  }

  #decrypt(encryption: Encryption, payload: string): string {
    if (encryption === "nip04") return nip04.decrypt(this.#secretKey, this.#options.walletPubkey, payload);
    return nip44.v2.decrypt(payload, this.#conversationKey());
  }

  #conversationKey(): Uint8Array {
    return nip44.v2.utils.getConversationKey(this.#secretKey, this.#options.walletPubkey);
  }
}

function describe(error: unknown): string {
  if (error instanceof AggregateError) return error.errors.map(describe).join("; ");
  return error instanceof Error ? error.message : String(error);
}
