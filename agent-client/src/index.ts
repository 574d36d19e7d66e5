/**
 * @l402-gateway/agent-client — pay L402 (and LSAT) and HTTP Payment (lightning charge and session) APIs from an agent: a drop-in fetch, an LND wallet, a token
 * cache, budgets, receipts and the `l402` CLI. See README.md.
 */
export type { TokenBalance } from "./balances.js";
export { type BudgetLimits, composeBudget, type Spending, spending } from "./budget.js";
export {
  type CallLimits,
  type ClosedSession,
  type ClosedToken,
  createL402Client,
  createL402Fetch,
  DEFAULT_BUDGET,
  DEFAULT_DEPOSIT,
  type DepositPolicy,
  L402Client,
  type L402ClientOptions,
  type L402Fetch,
} from "./client.js";
export { L402ClientError, type L402ClientErrorCode, type PriceQuote } from "./errors.js";
export type { L402Event } from "./events.js";
export type { GatewayQuote } from "./gateway-quote.js";
export { type DecodedInvoice, decodeInvoice } from "./invoice.js";
export { isLoopbackAddress, loopbackAddresses, type ResolvedAddress, type Resolver } from "./loopback.js";
export type { OfferPreference } from "./offer-choice.js";
export { type Offer, type OfferKind, readOffers } from "./offers.js";
export type { Receipt, ReceiptQuery, ReceiptStatus } from "./receipts.js";
export { REDACTED, scrubbingStream, scrubSecrets } from "./scrub.js";
export { FileStore, StoreFileError } from "./store/file.js";
export { MemoryStore } from "./store/memory.js";
export type { ClientState, PaidScheme, Refund, Refusal, StoredSession, StoredToken } from "./store/state.js";
export type { ClientStore } from "./store/store.js";
export { pathScope } from "./tokens.js";
export {
  createPaymentTools,
  type PaymentTool,
  type PaymentToolName,
  type PaymentToolOptions,
} from "./tools/payment-tools.js";
export type { ToolFailure, ToolResult, ToolSuccess } from "./tools/result.js";
export { credentialAsBase64 } from "./wallet/credentials.js";
export { type LndConnection, LndWallet } from "./wallet/lnd.js";
export { NwcUriError, NwcWallet, parseNwcUri } from "./wallet/nwc.js";
export type {
  PaymentLookup,
  PaymentOrder,
  PaymentResult,
  ReturnInvoice,
  ReturnInvoiceOrder,
  Wallet,
} from "./wallet/wallet.js";
