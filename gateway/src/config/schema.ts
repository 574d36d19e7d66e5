import { z } from "zod";
import { UPSTREAM_KINDS } from "../upstream/kinds.js";
import { adminSecretProblem } from "./admin-secret.js";
import { upstreamKindProblems } from "./kind-rules.js";
import { isLoopbackHost } from "./loopback.js";
import { pricingSchema } from "./pricing-schema.js";

/** Schemes a service may offer; see serviceSchema.schemes. */
export const PAYMENT_SCHEMES = ["l402", "payment-charge", "payment-session"] as const;
export type OfferedScheme = (typeof PAYMENT_SCHEMES)[number];

const serviceName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "a lowercase name of letters, digits and dashes (it appears in caveats)");

const capability = z.string().regex(/^[a-z0-9_.-]+$/, "a capability name of lowercase letters, digits, _ . -");

const matchSchema = z
  .object({
    /** HTTP methods this service answers; all when omitted. */
    methods: z.array(z.string().toUpperCase()).optional(),
    pathPrefix: z.string().startsWith("/").optional(),
    pathRegex: z
      .string()
      .refine((source) => {
        try {
          new RegExp(source);
          return true;
        } catch {
          return false;
        }
      }, "a valid regular expression")
      .optional(),
    /** Host header to match (without port); any when omitted. */
    host: z.string().optional(),
  })
  .strict()
  .refine((m) => m.pathPrefix !== undefined || m.pathRegex !== undefined, {
    message: "a match needs pathPrefix or pathRegex",
  });

const capabilityRuleSchema = z
  .object({
    pathPrefix: z.string().startsWith("/"),
    methods: z.array(z.string().toUpperCase()).optional(),
    capability,
  })
  .strict();

export const serviceSchema = z
  .object({
    name: serviceName,
    /** Tier written into the `services=` caveat, as Aperture does. */
    tier: z.number().int().min(0).default(0),
    match: matchSchema,
    /** The upstream, or the first of a pool; set this, `upstreams`, or both. */
    upstream: z.url({ protocol: /^https?$/ }).optional(),
    /**
     * The server behind `upstream`/`upstreams`, which decides how prompt tokens are counted, where load and model ids
     * are read, and which length field is written: see docs/operator-guide.md, "Upstream kinds".
     */
    upstreamKind: z.enum(UPSTREAM_KINDS).default("l402-llm-backend"),
    /**
     * Whether the upstream reports each call's usage (`usage` in its answers and, asked with
     * `stream_options.include_usage`, at the end of a stream). An upstream that does not can only have per-call rules.
     */
    upstreamReportsUsage: z.boolean().default(true),
    /** A pool of interchangeable upstreams (OpenAI-compatible servers): least-loaded first, failing ones ejected. */
    upstreams: z.array(z.url({ protocol: /^https?$/ })).optional(),
    /** Health checks and load readings of each upstream (every service has a pool, of one upstream at least). */
    upstreamPool: z
      .object({
        /** How often each upstream's `healthPath` is read (health, and load for balancing). */
        healthIntervalMs: z.number().int().positive().default(1_000),
        healthTimeoutMs: z.number().int().positive().default(1_000),
        /** Consecutive failed checks or connection failures after which an upstream is ejected. */
        ejectAfterFailures: z.number().int().positive().default(2),
      })
      .strict()
      .prefault({}),
    /** Pay once, use until the token expires (Aperture's model). Set this or `pricing`. */
    price: z.object({ sats: z.number().int().positive() }).strict().optional(),
    /** Prepaid metering: the token carries a balance in msat that each request draws down by the matching rule. */
    pricing: pricingSchema.optional(),
    /** Capabilities granted to every token of this service (`<service>_capabilities=` caveat). */
    capabilities: z.array(capability).default([]),
    /** Which capability a request needs, by path; a request that matches no rule needs none. */
    capabilityRules: z.array(capabilityRuleSchema).default([]),
    tokenLifetimeSeconds: z.number().int().positive().default(86_400),
    invoiceExpirySeconds: z.number().int().positive().default(600),
    /** Path on the upstream probed for readiness; any answer below 500 counts as healthy. */
    healthPath: z.string().startsWith("/").default("/health"),
    /** Paths served without payment (exact match or, with a trailing *, prefix). */
    freePaths: z.array(z.string().startsWith("/")).default([]),
    /**
     * What a 402 offers and which credentials are accepted: `l402` (LSAT and L402 lines), `payment-charge` (HTTP
     * Payment scheme, method lightning, one invoice per call; fixed-price services) and `payment-session` (a prepaid
     * Payment session; metered services). See docs/payment-schemes.md.
     */
    schemes: z.array(z.enum(PAYMENT_SCHEMES)).min(1).default(["l402"]),
    /**
     * Send the LSAT line before the L402 line (old clients read only the first challenge); false leaves it out,
     * halving the header. It is left out anyway when both lines would pass 8 KiB (a large macaroon).
     */
    lsatChallenge: z.boolean().default(true),
    /** Left out of the public price manifest (/.well-known/l402.json); the service itself still answers. */
    private: z.boolean().default(false),
  })
  .strict()
  .superRefine((service, ctx) => {
    if (service.schemes.includes("payment-charge") && service.price === undefined) {
      ctx.addIssue({ code: "custom", path: ["schemes"], message: "payment-charge needs a fixed price (price.sats)" });
    }
    if (service.schemes.includes("payment-session") && service.pricing === undefined) {
      ctx.addIssue({ code: "custom", path: ["schemes"], message: "payment-session needs metered pricing (pricing)" });
    }
    if (service.upstream === undefined && (service.upstreams === undefined || service.upstreams.length === 0)) {
      ctx.addIssue({ code: "custom", path: ["upstream"], message: "set upstream or upstreams (at least one URL)" });
    }
    if ((service.price === undefined) === (service.pricing === undefined)) {
      ctx.addIssue({ code: "custom", path: ["price"], message: "set exactly one of price and pricing" });
    }
    for (const problem of service.pricing ? upstreamKindProblems(service, service.pricing) : []) {
      ctx.addIssue({ code: "custom", path: ["pricing", ...problem.path], message: problem.message });
    }
    for (const [i, rule] of service.capabilityRules.entries()) {
      if (!service.capabilities.includes(rule.capability)) {
        ctx.addIssue({
          code: "custom",
          path: ["capabilityRules", i, "capability"],
          message: `"${rule.capability}" is not among this service's capabilities [${service.capabilities.join(", ")}]`,
        });
      }
    }
  });

/** Invoices created ahead of time, so a burst of challenges does not wait on LND's AddInvoice (one pool per process). */
const invoicePoolSchema = z
  .object({
    /** Invoices kept ready per (amount, memo, expiry) class; 0 turns the pool off. */
    size: z.number().int().min(0).max(10_000).default(0),
    /** A ready invoice older than this is dropped: one handed out has at least invoiceExpirySeconds - maxAgeSeconds left. */
    maxAgeSeconds: z.number().int().positive().default(60),
    /** Refill calls to LND at once. */
    concurrency: z.number().int().positive().max(64).default(2),
    /** Classes (the operator's prices and deposits) pooled at most; any others get their invoices on demand. */
    maxClasses: z.number().int().positive().default(16),
    /** Invoices held ready (or being made) over all classes at once: the most the pool ever has LND make ahead. */
    maxInvoices: z.number().int().positive().max(100_000).default(256),
    /**
     * Deposits (X-L402-Deposit-Msat values) whose invoices are made ahead for every metered service that allows them;
     * any other deposit gets its invoice from LND on demand, within the challenge rate limit.
     */
    depositsMsat: z.array(z.number().int().positive()).max(16).default([]),
    /** A class nobody asked for in this long is no longer refilled. */
    idleSeconds: z.number().int().positive().default(600),
  })
  .strict();

const lndSchema = z
  .object({
    /** host:port of LND's gRPC listener. */
    socket: z.string().regex(/^[^:\s]+:\d+$/, "host:port"),
    /** Base64 of tls.cert, or certPath. */
    cert: z.string().optional(),
    certPath: z.string().optional(),
    /** Base64 or hex of a macaroon with invoices:read/write (LND's invoice.macaroon is enough), or macaroonPath. */
    macaroon: z.string().optional(),
    macaroonPath: z.string().optional(),
    /** Bound on each LND call made while answering a request. */
    timeoutMs: z.number().int().positive().default(5_000),
    /**
     * Optional second macaroon that may pay refunds (bake it with `lncli bakemacaroon offchain:read offchain:write`);
     * without it, refunds are recorded but not paid. The invoice macaroon above stays the one for everything else.
     */
    refundMacaroon: z.string().optional(),
    refundMacaroonPath: z.string().optional(),
    invoicePool: invoicePoolSchema.prefault({}),
  })
  .strict()
  .refine((l) => (l.cert === undefined) !== (l.certPath === undefined), {
    message: "set exactly one of cert and certPath",
    path: ["cert"],
  })
  .refine((l) => (l.macaroon === undefined) !== (l.macaroonPath === undefined), {
    message: "set exactly one of macaroon and macaroonPath",
    path: ["macaroon"],
  })
  .refine((l) => l.refundMacaroon === undefined || l.refundMacaroonPath === undefined, {
    message: "set at most one of refundMacaroon and refundMacaroonPath",
    path: ["refundMacaroon"],
  });

/** The HTTP Payment scheme's challenges. */
const paymentSchema = z
  .object({
    /** `realm` of every Payment challenge. */
    realm: z.string().min(1).default("l402-gateway"),
    /** A challenge's `expires` (never later than its invoice's expiry). */
    challengeTtlSeconds: z.number().int().positive().default(900),
  })
  .strict();

/** Caps on refunds of unspent balances (L402 prepaid tokens and Payment sessions). */
const refundsSchema = z
  .object({
    /** A balance above this is not refunded automatically: the close is refused (the account stays usable). */
    maxSats: z.number().int().min(0).default(100_000),
    /** Routing fee limit per refund: the smaller of this and maxFeePercent of the amount (at least 1 sat). */
    maxFeeSats: z.number().int().min(0).default(100),
    maxFeePercent: z.number().min(0).max(100).default(1),
    /** Refund payments the gateway starts per minute (all agents together); beyond it, 429. */
    perMinute: z.number().positive().default(6),
    burst: z.number().int().positive().default(3),
    /** How long one refund payment may take to find a route. */
    timeoutSeconds: z.number().int().positive().default(60),
    /**
     * How long a claim on a refund's payment attempt lasts when its holder stops without releasing it (a crash):
     * after it, another process reads LND and settles the refund. Far above the moment between claiming and LND
     * registering the payment.
     */
    attemptLeaseSeconds: z.number().int().min(5).default(120),
    /** How often pending refunds (in flight, or left by a stopped gateway) are settled from LND's record. */
    reconcileIntervalSeconds: z.number().positive().default(30),
  })
  .strict();

/** A PostgreSQL database shared by several gateway replicas. */
const postgresSchema = z
  .object({
    /** postgres://user:password@host:port/database (libpq connection URI). */
    url: z.string().regex(/^postgres(ql)?:\/\//, "a postgres:// or postgresql:// URL"),
    /** Connections per replica. */
    poolSize: z.number().int().positive().default(10),
    /** Bound on opening a connection; past it the request gets 503 store_unavailable. */
    connectTimeoutMs: z.number().int().positive().default(5_000),
    /** Bound on each statement (PostgreSQL's statement_timeout). */
    statementTimeoutMs: z.number().int().positive().default(10_000),
    /** A replica whose heartbeat is older than this has stopped: its reservations are released. */
    leaseSeconds: z.number().int().min(3).default(30),
    /** How long a paid fixed-price token's root key is cached; revocations clear it at once over LISTEN/NOTIFY. */
    rootKeyCacheMs: z.number().int().min(0).default(5_000),
  })
  .strict();

const storeSchema = z
  .object({
    /** SQLite file (one gateway). */
    path: z.string().optional(),
    /** Or PostgreSQL (several replicas). */
    postgres: postgresSchema.optional(),
  })
  .strict()
  .refine((s) => (s.path === undefined) !== (s.postgres === undefined), {
    message: "set exactly one of path (SQLite) and postgres",
    path: ["path"],
  });

/** The public listener's TLS: PEM files, re-read when they change (certificates rotate). */
const tlsSchema = z
  .object({
    /** Certificate chain, PEM: the server's certificate first, then intermediates. */
    certPath: z.string().min(1),
    /** Private key of that certificate, PEM, unencrypted. */
    keyPath: z.string().min(1),
    /** How often the two files are checked for a change. */
    pollIntervalMs: z.number().int().min(50).default(5_000),
  })
  .strict();

const listenSchema = z
  .object({
    host: z.string().default("127.0.0.1"),
    port: z.number().int().min(0).max(65_535).default(8080),
    tls: tlsSchema.optional(),
    /** Plain HTTP on a non-loopback address: credentials then cross the network in clear text. */
    insecure: z.boolean().default(false),
    /** Answer 403 tls_required to requests that did not arrive over TLS (directly, or per a trusted proxy). */
    requireTls: z.boolean().default(false),
  })
  .strict()
  .superRefine((listen, ctx) => {
    if (listen.tls !== undefined && listen.insecure) {
      ctx.addIssue({ code: "custom", path: ["insecure"], message: "insecure (plain HTTP) contradicts tls; set one" });
    }
    if (listen.tls === undefined && !listen.insecure && !isLoopbackHost(listen.host)) {
      ctx.addIssue({
        code: "custom",
        path: ["insecure"],
        message:
          `plain HTTP on ${listen.host} would carry credentials in clear text: set listen.tls, or listen.insecure: ` +
          "true (behind a TLS-terminating proxy, or on a trusted network)",
      });
    }
  });

export const configSchema = z
  .object({
    listen: listenSchema.default({ host: "127.0.0.1", port: 8080, insecure: false, requireTls: false }),
    /** Trust X-Forwarded-* from a reverse proxy in front (Express's `trust proxy` setting). */
    trustProxy: z.union([z.boolean(), z.number().int(), z.string()]).default(false),
    lnd: lndSchema,
    store: storeSchema,
    /** Worker processes sharing the listening sockets (node:cluster); `auto` is one per core. */
    workers: z.union([z.number().int().min(1).max(256), z.literal("auto")]).default(1),
    /** Macaroon location; Aperture uses "lsat". */
    macaroonLocation: z.string().default("lsat"),
    proxy: z
      .object({
        connectTimeoutMs: z.number().int().positive().default(5_000),
        /** Longest silence allowed while waiting for upstream headers or between body chunks. */
        idleTimeoutMs: z.number().int().positive().default(120_000),
        /** Forward the L402 Authorization header to the upstream (off: the credential stays at the gateway). */
        forwardCredential: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        maxHeaderBytes: z.number().int().min(1_024).default(16_384),
        maxBodyBytes: z.number().int().positive().default(1_048_576),
        /** Challenges (each creates an LND invoice) per client IP: sustained rate and burst. */
        challengesPerMinute: z.number().positive().default(30),
        challengeBurst: z.number().int().positive().default(10),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
        /** Human-readable lines (pino-pretty) instead of JSON, for development. */
        pretty: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    /** Operator listener for /metrics, /healthz and /readyz; loopback by default, never the public port. */
    operator: z
      .object({ host: z.string().default("127.0.0.1"), port: z.number().int().min(0).max(65_535).default(9402) })
      .strict()
      .prefault({}),
    /** Owner API for prices, tokens and revenue: off unless configured, loopback by default. */
    admin: z
      .object({
        host: z.string().default("127.0.0.1"),
        port: z.number().int().min(0).max(65_535).default(9403),
        /** Bearer secret (random, at least 32 characters; see adminSecretProblem), or secretPath to a file holding it. */
        secret: z
          .string()
          .superRefine((secret, ctx) => {
            const problem = adminSecretProblem(secret);
            if (problem) ctx.addIssue({ code: "custom", message: problem });
          })
          .optional(),
        secretPath: z.string().optional(),
      })
      .strict()
      .refine((a) => (a.secret === undefined) !== (a.secretPath === undefined), {
        message: "set exactly one of secret and secretPath",
        path: ["secret"],
      })
      .optional(),
    payment: paymentSchema.prefault({}),
    refunds: refundsSchema.prefault({}),
    services: z.array(serviceSchema).min(1),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    for (const [i, service] of config.services.entries()) {
      if (seen.has(service.name)) {
        ctx.addIssue({ code: "custom", path: ["services", i, "name"], message: `duplicate service "${service.name}"` });
      }
      seen.add(service.name);
      const pool = config.lnd.invoicePool;
      if (pool.size > 0 && pool.maxAgeSeconds * 2 > service.invoiceExpirySeconds) {
        ctx.addIssue({
          code: "custom",
          path: ["lnd", "invoicePool", "maxAgeSeconds"],
          message:
            `${pool.maxAgeSeconds} s is more than half of service "${service.name}"'s invoiceExpirySeconds ` +
            `(${service.invoiceExpirySeconds}): a pooled invoice would be handed out with too little life left`,
        });
      }
    }
  });

export type GatewayConfig = z.infer<typeof configSchema>;
export type ServiceConfig = GatewayConfig["services"][number];
export type StoreConfig = GatewayConfig["store"];
export type PostgresConfig = z.infer<typeof postgresSchema>;
