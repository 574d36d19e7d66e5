export { createApp, type GatewayParts } from "./app.js";
export { type ClusterOptions, type RunningCluster, startCluster } from "./cluster/primary.js";
export { ConfigError, loadConfigFile, parseConfig } from "./config/load.js";
export { configSchema, type GatewayConfig, type ServiceConfig } from "./config/schema.js";
export { type InvoiceClass, InvoicePool, type InvoicePoolOptions } from "./lightning/invoice-pool.js";
export type { CreatedInvoice, InvoiceBackend, Settlement } from "./lightning/invoices.js";
export { LightningUnavailableError } from "./lightning/invoices.js";
export { connectLnd, LndInvoiceBackend } from "./lightning/lnd.js";
export { serviceSecret } from "./payment/service-secret.js";
export { type PriceLine, type Pricer, QuoteError } from "./pricing/pricer.js";
export { fixedQuote, type Quote } from "./pricing/quote.js";
export {
  LndRefundPayer,
  type PayAnswer,
  type PaymentResult,
  type PaymentState,
  type RefundPayer,
} from "./refunds/payer.js";
export type { Refunds } from "./refunds/refunds.js";
export { type GatewayOverrides, type RunningGateway, startGateway } from "./server.js";
export { StoreUnavailableError } from "./store/errors.js";
export type { RefundRecord, RefundStatus } from "./store/ledger.js";
export { openStore } from "./store/open.js";
export { PostgresTokenStore } from "./store/postgres.js";
export { SqliteTokenStore } from "./store/sqlite.js";
export type { TokenRecord, TokenStatus, TokenStore } from "./store/store.js";
