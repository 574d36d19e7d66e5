import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import type { L402Client, L402ClientOptions } from "../client.js";
import type { PriceQuote } from "../errors.js";
import type { L402Event } from "../events.js";
import type { GatewayQuote } from "../gateway-quote.js";
import { scrubbingStream, scrubSecrets } from "../scrub.js";
import { FileStore } from "../store/file.js";
import type { BudgetLimits } from "../store/state.js";
import { credentialAsBase64 } from "../wallet/credentials.js";
import type { PaymentLookup, Wallet } from "../wallet/wallet.js";
import type {
  BudgetCommand,
  CloseCommand,
  QuoteCommand,
  ReceiptsCommand,
  RefusalsCommand,
  RequestCommand,
  TokensCommand,
} from "./args.js";
import { UsageError } from "./args.js";
import { EXIT, exitCodeFor } from "./exit-codes.js";

/** The client, loaded on first use: `tokens` and `--help` need none of it. */
async function createClient(options: L402ClientOptions): Promise<L402Client> {
  const { createL402Client } = await import("../client.js");
  return createL402Client(options);
}

export interface Io {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
}

export async function requestCommand(command: RequestCommand, io: Io): Promise<number> {
  const store = new FileStore(command.store);
  const progress = (line: string) => {
    if (!command.quiet) io.stderr.write(`l402: ${line}\n`);
  };
  const client = await createClient({
    wallet: command.dryRun ? await walletOrLookupOnly(command) : await requireWallet(command),
    store,
    budget: (await store.read()).budgetLimits,
    dryRun: command.dryRun,
    allowRefusedOrigins: command.allowRefused ? [command.url.origin] : [],
    ...(command.coolOffSeconds === undefined ? {} : { refusalCoolOffMs: command.coolOffSeconds * 1000 }),
    allowInsecure: command.insecure,
    ...(command.cacert === undefined ? {} : { ca: readCacert(command.cacert) }),
    timeouts: {
      ...(command.headersTimeoutSeconds === undefined ? {} : { headersMs: command.headersTimeoutSeconds * 1000 }),
      ...(command.idleTimeoutSeconds === undefined ? {} : { idleMs: command.idleTimeoutSeconds * 1000 }),
    },
    ...(command.maxCostSats === undefined ? {} : { maxCostSats: command.maxCostSats }),
    ...(command.maxFeeSats === undefined ? {} : { maxFeeSats: command.maxFeeSats }),
    ...(command.timeoutSeconds === undefined ? {} : { paymentTimeoutMs: command.timeoutSeconds * 1000 }),
    ...(command.deposit === undefined ? {} : { deposit: command.deposit }),
    ...(command.schemes === undefined ? {} : { preference: { order: command.schemes } }),
    onEvent: (event) => progress(describeEvent(event)),
  });
  const init = await requestInit(command.command.toUpperCase(), command, io);
  // A server may echo the credential it was sent: neither the headers nor the body printed show it.
  const secrets: string[] = [];
  const onCredential = (presented: readonly string[]) => secrets.push(...presented);
  const result = command.dryRun
    ? await client.preview(command.url, init)
    : await client.fetchWithin(command.url, init, { onCredential });
  if (!(result instanceof Response)) {
    progress(`dry run: would pay ${describeQuote(result)}`);
    io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return EXIT.ok;
  }
  if (command.include) {
    io.stderr.write(`HTTP ${result.status} ${result.statusText}\n`);
    for (const [name, value] of result.headers) io.stderr.write(`${name}: ${scrubSecrets(value, secrets)}\n`);
    io.stderr.write("\n");
  }
  if (result.body) {
    // The global ReadableStream type and node:stream/web's are the same object, typed apart by @types/node.
    await pipeline(
      Readable.fromWeb(result.body as WebReadableStream<Uint8Array>),
      scrubbingStream(secrets),
      io.stdout,
      {
        end: false,
      },
    );
  }
  if (result.status >= 400) {
    progress(`HTTP ${result.status} ${result.statusText}`);
    return EXIT.httpError;
  }
  return EXIT.ok;
}

/** The request a get, post or quote command describes: method, -H headers and the -d body. */
async function requestInit(
  method: string,
  command: { readonly headers: readonly (readonly [string, string])[]; readonly data?: string | undefined },
  io: Io,
): Promise<RequestInit> {
  const headers = new Headers();
  for (const [name, value] of command.headers) {
    try {
      headers.append(name, value);
    } catch {
      throw new UsageError(`header ${name} has a value HTTP cannot carry`);
    }
  }
  const body = await readBody(command.data, io);
  return { method, headers, ...(body === undefined ? {} : { body }) };
}

/** Asks the gateway's price for a request before paying: JSON on stdout, and whether the cap and budgets allow it. */
export async function quoteCommand(command: QuoteCommand, io: Io): Promise<number> {
  const store = new FileStore(command.store);
  const client = await createClient({
    wallet: await walletOrLookupOnly(command),
    store,
    budget: (await store.read()).budgetLimits,
    allowInsecure: command.insecure,
    ...(command.cacert === undefined ? {} : { ca: readCacert(command.cacert) }),
    ...(command.maxCostSats === undefined ? {} : { maxCostSats: command.maxCostSats }),
    ...(command.maxFeeSats === undefined ? {} : { maxFeeSats: command.maxFeeSats }),
    ...(command.deposit === undefined ? {} : { deposit: command.deposit }),
  });
  const quote = await client.quote(command.url, await requestInit(command.method, command, io));
  const { refusal, ...price } = quote;
  io.stdout.write(`${JSON.stringify({ ...price, refusal: refusal?.code ?? null }, null, 2)}\n`);
  if (!command.quiet) io.stderr.write(`l402: ${describeGatewayQuote(quote)}\n`);
  if (!refusal) return EXIT.ok;
  io.stderr.write(`l402: ${refusal.code}: ${refusal.message}\n`);
  return exitCodeFor(refusal.code);
}

function describeGatewayQuote(quote: GatewayQuote & { maxFeeSats: number; depositSats: number | null }): string {
  const who = `${quote.origin}${quote.service ? ` (${quote.service})` : ""}`;
  switch (quote.kind) {
    case "free":
      return `${who}: free, nothing to pay`;
    case "fixed":
      return `${who}: ${quote.invoiceSats} sats (+ up to ${quote.maxFeeSats} sats fee) for a credential`;
    case "metered":
      return (
        `${who}: this call reserves up to ${quote.reserveMsat} msat of a prepaid balance; a new credential costs ` +
        `${quote.invoiceSats} sats (+ up to ${quote.maxFeeSats} sats fee)${
          quote.depositSats === null ? "" : `; this client would prepay ${quote.depositSats} sats (its deposit)`
        }`
      );
  }
}

export function readCacert(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`--cacert: cannot read ${path}: ${(error as Error).message}`);
  }
}

export async function tokensCommand(command: TokensCommand, io: Io): Promise<number> {
  const store = new FileStore(command.store);
  if (command.action === "list") {
    const state = await store.read();
    const tokens = state.tokens.map((token) => ({
      scheme: "l402",
      origin: token.origin,
      service: token.service,
      payment_hash: token.paymentHash,
      valid_until: token.validUntil === null ? null : new Date(token.validUntil * 1000).toISOString(),
      created_at: token.createdAt,
    }));
    const sessions = state.sessions.map((session) => ({
      scheme: "session",
      origin: session.origin,
      session_id: session.sessionId,
      status: session.status,
      paid_sats: session.paidSats,
      unit_sats: session.unitSats,
      created_at: session.createdAt,
    }));
    io.stdout.write(`${JSON.stringify([...tokens, ...sessions], null, 2)}\n`);
    return EXIT.ok;
  }
  const target = command.target;
  const removed = await store.update((state) => {
    const before = state.tokens.length;
    state.tokens = state.tokens.filter(
      (token) => !(command.all || token.origin === target || token.paymentHash === target),
    );
    return before - state.tokens.length;
  });
  io.stderr.write(`l402: removed ${removed} token${removed === 1 ? "" : "s"}\n`);
  return EXIT.ok;
}

export async function receiptsCommand(command: ReceiptsCommand, io: Io): Promise<number> {
  const wallet = await walletOrLookupOnly(command);
  const client = await createClient({ wallet, store: new FileStore(command.store) });
  // With a wallet configured, payments left pending by a crash are resolved first.
  if (wallet !== noWallet) await client.resolvePending();
  const receipts = await client.receipts({
    ...(command.origin === undefined ? {} : { origin: command.origin }),
    ...(command.status === undefined ? {} : { status: command.status }),
    ...(command.limit === undefined ? {} : { limit: command.limit }),
  });
  const shown = receipts.map((receipt) => ({
    payment_hash: receipt.paymentHash,
    scheme: receipt.paid,
    origin: receipt.origin,
    service: receipt.service,
    status: receipt.status,
    amount_sats: receipt.amountSats,
    fee_sats: receipt.feeSats,
    created_at: receipt.createdAt,
    settled_at: receipt.settledAt,
    error: receipt.error,
    ...(receipt.refund === undefined ? {} : { refund: receipt.refund }),
  }));
  io.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
  return EXIT.ok;
}

export async function budgetCommand(command: BudgetCommand, io: Io): Promise<number> {
  const store = new FileStore(command.store);
  if (command.action !== "show") {
    await store.update((state) => {
      const limits: BudgetLimits = command.action === "clear" ? {} : { ...state.budgetLimits };
      if (command.hourlySats !== undefined) limits.hourlySats = command.hourlySats;
      if (command.dailySats !== undefined) limits.dailySats = command.dailySats;
      if (command.totalSats !== undefined) limits.totalSats = command.totalSats;
      if (command.perOriginSats !== undefined) limits.perOriginSats = command.perOriginSats;
      state.budgetLimits = limits;
    });
  }
  const client = await createClient({
    wallet: await walletOrLookupOnly(command),
    store,
    budget: (await store.read()).budgetLimits,
  });
  io.stdout.write(`${JSON.stringify(await client.budget(), null, 2)}\n`);
  return EXIT.ok;
}

/** Closes the store's Payment sessions and L402 prepaid tokens (of one origin, or all) and prints the refunds. */
export async function closeCommand(command: CloseCommand, io: Io): Promise<number> {
  const client = await createClient({
    wallet: await requireWallet(command),
    store: new FileStore(command.store),
    onEvent: (event) => {
      if (!command.quiet && event.type === "refund") io.stderr.write(`l402: ${describeEvent(event)}\n`);
    },
  });
  const filter = command.origin === undefined ? {} : { origin: command.origin };
  const sessions = await client.closeSessions(filter);
  const tokens = await client.closeTokens(filter);
  io.stdout.write(`${JSON.stringify({ sessions, tokens }, null, 2)}\n`);
  return EXIT.ok;
}

/**
 * Origins that took a payment and did not serve it (JSON on stdout), or `clear`: the owner's word that they may be
 * paid again before their cool-off ends.
 */
export async function refusalsCommand(command: RefusalsCommand, io: Io): Promise<number> {
  const client = await createClient({
    wallet: noWallet,
    store: new FileStore(command.store),
    ...(command.coolOffSeconds === undefined ? {} : { refusalCoolOffMs: command.coolOffSeconds * 1000 }),
  });
  if (command.action === "clear") {
    const cleared = await client.clearRefusals(command.origin === undefined ? {} : { origin: command.origin });
    io.stderr.write(`l402: cleared ${cleared} refusal${cleared === 1 ? "" : "s"}\n`);
    return EXIT.ok;
  }
  io.stdout.write(`${JSON.stringify(await client.refusals(), null, 2)}\n`);
  return EXIT.ok;
}

interface WalletFlags {
  readonly lndSocket?: string | undefined;
  readonly lndCert?: string | undefined;
  readonly lndMacaroon?: string | undefined;
  readonly wallet?: "lnd" | "nwc" | undefined;
  readonly nwcUriFile?: string | undefined;
  readonly nwcUri?: string | undefined;
}

/** The wallet the flags name; its modules (gRPC, Nostr) load only here: commands without one start faster. */
export async function requireWallet(flags: WalletFlags): Promise<Wallet> {
  const wallet = await walletFrom(flags);
  if (!wallet) {
    throw new UsageError(
      "no wallet: set --lnd-socket and --lnd-macaroon (or L402_LND_SOCKET and L402_LND_MACAROON), or --wallet nwc " +
        "with --nwc-uri-file (or L402_NWC_URI_FILE or L402_NWC_URI)",
    );
  }
  return wallet;
}

/** For commands that never pay: the configured wallet if any (to resolve pending payments), else one that cannot. */
async function walletOrLookupOnly(flags: WalletFlags): Promise<Wallet> {
  return (await walletFrom(flags)) ?? noWallet;
}

async function walletFrom(flags: WalletFlags): Promise<Wallet | undefined> {
  const nwcGiven = flags.nwcUriFile !== undefined || flags.nwcUri !== undefined;
  if (flags.wallet === "nwc" || (flags.wallet === undefined && nwcGiven && flags.lndSocket === undefined)) {
    return nwcWalletFrom(flags);
  }
  if (flags.lndSocket === undefined && flags.lndMacaroon === undefined) return undefined;
  if (flags.lndSocket === undefined || flags.lndMacaroon === undefined) {
    throw new UsageError("a wallet needs both --lnd-socket and --lnd-macaroon");
  }
  const { LndWallet } = await import("../wallet/lnd.js");
  try {
    return LndWallet.connect({
      socket: flags.lndSocket,
      macaroon: credentialAsBase64(flags.lndMacaroon, "--lnd-macaroon"),
      ...(flags.lndCert === undefined ? {} : { cert: credentialAsBase64(flags.lndCert, "--lnd-cert") }),
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** The NWC wallet of the URI in --nwc-uri-file (or L402_NWC_URI_FILE), else L402_NWC_URI. No message repeats the URI. */
async function nwcWalletFrom(flags: WalletFlags): Promise<Wallet> {
  let uri = flags.nwcUri;
  if (flags.nwcUriFile !== undefined) {
    try {
      uri = readFileSync(flags.nwcUriFile, "utf8").trim();
    } catch (error) {
      throw new UsageError(`--nwc-uri-file: cannot read ${flags.nwcUriFile}: ${(error as NodeJS.ErrnoException).code}`);
    }
  }
  if (uri === undefined)
    throw new UsageError("--wallet nwc needs --nwc-uri-file (or L402_NWC_URI_FILE or L402_NWC_URI)");
  const { NwcUriError, NwcWallet } = await import("../wallet/nwc.js");
  try {
    return NwcWallet.fromUri(uri);
  } catch (error) {
    if (error instanceof NwcUriError) throw new UsageError(error.message);
    throw error;
  }
}

const noWallet: Wallet = {
  pay: () => Promise.reject(new Error("no wallet configured")),
  lookupPayment: (): Promise<PaymentLookup> => Promise.reject(new Error("no wallet configured")),
};

async function readBody(data: string | undefined, io: Io): Promise<Uint8Array | string | undefined> {
  if (data === undefined) return undefined;
  if (data === "@-") {
    const chunks: Buffer[] = [];
    for await (const chunk of io.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    return Buffer.concat(chunks);
  }
  if (data.startsWith("@")) {
    try {
      return readFileSync(data.slice(1));
    } catch (error) {
      throw new UsageError(`cannot read ${data.slice(1)}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return data;
}

function describeQuote(quote: PriceQuote): string {
  return `${quote.amountSats} sats (+ up to ${quote.maxFeeSats} sats fee) to ${quote.origin}${
    quote.service ? ` for ${quote.service}` : ""
  }`;
}

export function describeEvent(event: L402Event): string {
  switch (event.type) {
    case "challenge":
      return `402 from ${event.url} (service ${event.service || "-"})`;
    case "paying":
      return `paying ${describeQuote(event.quote)}, hash ${event.quote.paymentHash} (${schemeName(event.quote)})`;
    case "paid":
      return `paid ${event.quote.amountSats} sats, fee ${event.feeSats} sats, hash ${event.quote.paymentHash} (${schemeName(
        event.quote,
      )})`;
    case "token_reused":
      return `using the cached token for ${event.service || event.origin}`;
    case "token_dropped":
      return `the server refused the cached token for ${event.service || event.origin} (spent, expired or revoked); dropped it`;
    case "deposit":
      return `metered: a call costs up to ${describeMsat(event.priceMsat)}; asking to ${
        event.topUp ? "top up" : "prepay"
      } ${describeMsat(event.depositMsat)} so that the next calls use the balance (refundable with 'l402 close')`;
    case "stream_receipt":
      return `the Payment session's stream spent ${event.spentSats} sats (${event.units} unit${
        event.units === 1n ? "" : "s"
      }; receipt of session ${event.sessionId})`;
    case "deposit_refused":
      return `the server refused a deposit of ${describeMsat(event.depositMsat)} (outside its bounds); paying what it asks`;
    case "top_up": {
      const held = event.credential === "token" ? "cached token" : "Payment session";
      const details = [
        ...(event.balanceMsat === undefined ? [] : [`${describeMsat(event.balanceMsat)} left`]),
        ...(event.priceMsat === undefined ? [] : [`a call may cost up to ${describeMsat(event.priceMsat)}`]),
      ];
      const why = details.length === 0 ? "" : ` (${details.join(", ")})`;
      return `the balance of the ${held} for ${event.service || event.origin} ran out${why}; topping it up`;
    }
    case "paid_retry":
      return `the answer to the paid request was lost (${event.reason}); sending it again with the paid credential (retry ${event.retry})`;
    case "pending_resolved":
      return `earlier payment ${event.paymentHash} resolved: ${event.status}`;
    case "refund":
      return `closed ${event.reference}: refund ${event.refund.status}${
        event.refund.receivedSats === null ? "" : `, ${event.refund.receivedSats} sats received`
      }`;
  }
}

/** Msat as sats, exact: 1500 msat is "1.5 sats". */
function describeMsat(msat: number): string {
  return `${msat / 1000} sats`;
}

/** Which scheme a payment went through, as the CLI prints it. */
export function schemeName(quote: PriceQuote): string {
  switch (quote.scheme) {
    case "charge":
      return "Payment charge";
    case "session":
      return "Payment session deposit";
    case "topUp":
      return "Payment session top-up";
    default:
      return "L402";
  }
}
