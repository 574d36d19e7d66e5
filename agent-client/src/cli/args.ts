import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import type { DepositPolicy } from "../deposit.js";

export class UsageError extends Error {
  override readonly name = "UsageError";
}

const OPTIONS = {
  header: { type: "string", short: "H", multiple: true },
  data: { type: "string", short: "d" },
  request: { type: "string", short: "X" },
  "max-cost": { type: "string" },
  "max-fee": { type: "string" },
  timeout: { type: "string" },
  "dry-run": { type: "boolean" },
  "allow-refused": { type: "boolean" },
  "cool-off": { type: "string" },
  insecure: { type: "boolean" },
  cacert: { type: "string" },
  "headers-timeout": { type: "string" },
  "idle-timeout": { type: "string" },
  include: { type: "boolean", short: "i" },
  store: { type: "string" },
  "lnd-socket": { type: "string" },
  "lnd-cert": { type: "string" },
  "lnd-macaroon": { type: "string" },
  wallet: { type: "string" },
  "nwc-uri-file": { type: "string" },
  quiet: { type: "boolean", short: "q" },
  origin: { type: "string" },
  status: { type: "string" },
  limit: { type: "string" },
  hourly: { type: "string" },
  daily: { type: "string" },
  total: { type: "string" },
  "per-origin": { type: "string" },
  "confirm-above": { type: "string" },
  deposit: { type: "string" },
  "deposit-calls": { type: "string" },
  all: { type: "boolean" },
  scheme: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

const wholeNumber = (what: string) =>
  z
    .string()
    .regex(/^[0-9]+$/, `${what} takes a whole number`)
    .transform(Number)
    .pipe(z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER));

const httpUrl = z
  .string()
  .refine((text) => URL.canParse(text), "not a URL")
  .transform((text) => new URL(text))
  .refine((url) => url.protocol === "http:" || url.protocol === "https:", "only http and https URLs are supported");

const header = z
  .string()
  .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:.*$/, "a header is 'Name: value'")
  .transform((text) => {
    const separator = text.indexOf(":");
    return [text.slice(0, separator).trim(), text.slice(separator + 1).trim()] as const;
  });

/**
 * --deposit <sats> (0: only what the gateway asks by itself, one call) or --deposit-calls <n>: how a metered
 * credential is funded (see DepositPolicy); neither: the client's default.
 */
const depositSchema = z
  .object({
    sats: wholeNumber("--deposit").optional(),
    calls: wholeNumber("--deposit-calls")
      .pipe(z.number().positive("--deposit-calls must be above 0").max(1000, "--deposit-calls is at most 1000"))
      .optional(),
  })
  .refine(
    ({ sats, calls }) => sats === undefined || calls === undefined,
    "--deposit and --deposit-calls exclude each other",
  )
  .transform(({ sats, calls }): DepositPolicy | undefined => {
    if (sats !== undefined) return sats === 0 ? false : { sats };
    return calls === undefined ? undefined : { calls };
  });

const connectionSchema = z.object({
  store: z.string().min(1),
  lndSocket: z
    .string()
    .regex(/^[^\s:]+:[0-9]+$/, "--lnd-socket is host:port")
    .optional(),
  lndCert: z.string().min(1).optional(),
  lndMacaroon: z.string().min(1).optional(),
  wallet: z.enum(["lnd", "nwc"], "--wallet is lnd or nwc").optional(),
  nwcUriFile: z.string().min(1, "--nwc-uri-file takes a file").optional(),
  /** Only from the environment (L402_NWC_URI): a command line is visible to every user of the machine. */
  nwcUri: z.string().min(1).optional(),
  quiet: z.boolean(),
});

const requestSchema = connectionSchema.extend({
  command: z.enum(["get", "post"]),
  url: httpUrl,
  headers: z.array(header),
  data: z.string().optional(),
  maxCostSats: wholeNumber("--max-cost").pipe(z.number().positive("--max-cost must be above 0")).optional(),
  maxFeeSats: wholeNumber("--max-fee").optional(),
  timeoutSeconds: wholeNumber("--timeout").pipe(z.number().positive("--timeout must be above 0")).optional(),
  /** --scheme: the kinds of offer to pay, best first (default: the client's preference for many calls). */
  schemes: z
    .string()
    .transform((text) => text.split(",").map((part) => part.trim()))
    .pipe(z.array(z.enum(["l402", "charge", "session"], "--scheme takes l402, charge and session, comma-separated")))
    .optional(),
  dryRun: z.boolean(),
  deposit: depositSchema,
  include: z.boolean(),
  allowRefused: z.boolean(),
  coolOffSeconds: wholeNumber("--cool-off").optional(),
  insecure: z.boolean(),
  cacert: z.string().min(1, "--cacert takes a file").optional(),
  headersTimeoutSeconds: wholeNumber("--headers-timeout")
    .pipe(z.number().positive("--headers-timeout must be above 0"))
    .optional(),
  idleTimeoutSeconds: wholeNumber("--idle-timeout")
    .pipe(z.number().positive("--idle-timeout must be above 0"))
    .optional(),
});

const quoteSchema = connectionSchema.extend({
  command: z.literal("quote"),
  url: httpUrl,
  method: z
    .string()
    .regex(/^[A-Za-z]{1,20}$/, "-X takes an HTTP method")
    .transform((m) => m.toUpperCase()),
  headers: z.array(header),
  data: z.string().optional(),
  maxCostSats: wholeNumber("--max-cost").pipe(z.number().positive("--max-cost must be above 0")).optional(),
  maxFeeSats: wholeNumber("--max-fee").optional(),
  deposit: depositSchema,
  insecure: z.boolean(),
  cacert: z.string().min(1, "--cacert takes a file").optional(),
});

const mcpSchema = connectionSchema.extend({
  command: z.literal("mcp"),
  maxCostSats: wholeNumber("--max-cost").pipe(z.number().positive("--max-cost must be above 0")).default(1000),
  maxFeeSats: wholeNumber("--max-fee").default(10),
  confirmAboveSats: wholeNumber("--confirm-above").optional(),
  deposit: depositSchema,
  timeoutSeconds: wholeNumber("--timeout").pipe(z.number().positive("--timeout must be above 0")).optional(),
  coolOffSeconds: wholeNumber("--cool-off").optional(),
  headersTimeoutSeconds: wholeNumber("--headers-timeout")
    .pipe(z.number().positive("--headers-timeout must be above 0"))
    .optional(),
  idleTimeoutSeconds: wholeNumber("--idle-timeout")
    .pipe(z.number().positive("--idle-timeout must be above 0"))
    .optional(),
  insecure: z.boolean(),
  cacert: z.string().min(1, "--cacert takes a file").optional(),
});

const tokensSchema = connectionSchema.extend({
  command: z.literal("tokens"),
  action: z.enum(["list", "rm"]),
  target: z.string().optional(),
  all: z.boolean(),
});

const closeSchema = connectionSchema.extend({
  command: z.literal("close"),
  /** Undefined with --all. */
  origin: httpUrl.transform((url) => url.origin).optional(),
});

const refusalsSchema = connectionSchema.extend({
  command: z.literal("refusals"),
  action: z.enum(["list", "clear"]),
  /** Undefined with --all. */
  origin: httpUrl.transform((url) => url.origin).optional(),
  coolOffSeconds: wholeNumber("--cool-off").optional(),
});

const receiptsSchema = connectionSchema.extend({
  command: z.literal("receipts"),
  origin: z.string().optional(),
  status: z.enum(["pending", "succeeded", "failed"]).optional(),
  limit: wholeNumber("--limit").optional(),
});

const budgetSchema = connectionSchema.extend({
  command: z.literal("budget"),
  action: z.enum(["show", "set", "clear"]),
  hourlySats: wholeNumber("--hourly").optional(),
  dailySats: wholeNumber("--daily").optional(),
  totalSats: wholeNumber("--total").optional(),
  perOriginSats: wholeNumber("--per-origin").optional(),
});

export type RequestCommand = z.infer<typeof requestSchema>;
export type QuoteCommand = z.infer<typeof quoteSchema>;
export type McpCommand = z.infer<typeof mcpSchema>;
export type TokensCommand = z.infer<typeof tokensSchema>;
export type ReceiptsCommand = z.infer<typeof receiptsSchema>;
export type BudgetCommand = z.infer<typeof budgetSchema>;
export type CloseCommand = z.infer<typeof closeSchema>;
export type RefusalsCommand = z.infer<typeof refusalsSchema>;
export type Command =
  | RequestCommand
  | QuoteCommand
  | McpCommand
  | TokensCommand
  | ReceiptsCommand
  | BudgetCommand
  | CloseCommand
  | RefusalsCommand
  | { command: "help" }
  | { command: "version" };

/** Parses argv (without node and the script) and the environment; throws UsageError with a readable message. */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): Command {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: "help" };
  if (values.version) return { command: "version" };
  const [command, ...rest] = positionals;
  const connection = {
    store: values.store ?? env.L402_STORE ?? join(homedir(), ".l402", "store.json"),
    lndSocket: values["lnd-socket"] ?? env.L402_LND_SOCKET,
    lndCert: values["lnd-cert"] ?? env.L402_LND_CERT,
    lndMacaroon: values["lnd-macaroon"] ?? env.L402_LND_MACAROON,
    wallet: values.wallet ?? env.L402_WALLET,
    nwcUriFile: values["nwc-uri-file"] ?? env.L402_NWC_URI_FILE,
    nwcUri: env.L402_NWC_URI,
    quiet: values.quiet ?? false,
  };
  switch (command) {
    case "get":
    case "post": {
      expectPositionals(command, rest, 1, "<url>");
      if (command === "get" && values.data !== undefined) throw new UsageError("get takes no body; use post -d");
      return validate(requestSchema, {
        ...connection,
        command,
        url: rest[0],
        headers: values.header ?? [],
        data: values.data,
        maxCostSats: values["max-cost"],
        maxFeeSats: values["max-fee"],
        timeoutSeconds: values.timeout,
        dryRun: values["dry-run"] ?? false,
        include: values.include ?? false,
        allowRefused: values["allow-refused"] ?? false,
        coolOffSeconds: values["cool-off"],
        insecure: values.insecure ?? false,
        cacert: values.cacert,
        headersTimeoutSeconds: values["headers-timeout"],
        idleTimeoutSeconds: values["idle-timeout"],
        schemes: values.scheme,
        deposit: { sats: values.deposit, calls: values["deposit-calls"] },
      });
    }
    case "close": {
      const [origin, ...extra] = rest;
      if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
      if ((origin === undefined) === (values.all !== true)) throw new UsageError("close takes an origin, or --all");
      return validate(closeSchema, { ...connection, command, origin });
    }
    case "quote":
      expectPositionals(command, rest, 1, "<url>");
      return validate(quoteSchema, {
        ...connection,
        command,
        url: rest[0],
        method: values.request ?? (values.data === undefined ? "GET" : "POST"),
        headers: values.header ?? [],
        data: values.data,
        maxCostSats: values["max-cost"],
        maxFeeSats: values["max-fee"],
        deposit: { sats: values.deposit, calls: values["deposit-calls"] },
        insecure: values.insecure ?? false,
        cacert: values.cacert,
      });
    case "mcp":
      expectPositionals(command, rest, 0, "");
      return validate(mcpSchema, {
        ...connection,
        command,
        maxCostSats: values["max-cost"],
        maxFeeSats: values["max-fee"],
        confirmAboveSats: values["confirm-above"],
        deposit: { sats: values.deposit, calls: values["deposit-calls"] },
        timeoutSeconds: values.timeout,
        coolOffSeconds: values["cool-off"],
        headersTimeoutSeconds: values["headers-timeout"],
        idleTimeoutSeconds: values["idle-timeout"],
        insecure: values.insecure ?? false,
        cacert: values.cacert,
      });
    case "refusals": {
      const [action = "list", origin, ...extra] = rest;
      if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
      if (action === "clear" && (origin === undefined) === (values.all !== true)) {
        throw new UsageError("refusals clear takes an origin, or --all");
      }
      if (action === "list" && origin !== undefined) throw new UsageError("refusals list takes no argument");
      return validate(refusalsSchema, {
        ...connection,
        command,
        action,
        origin,
        coolOffSeconds: values["cool-off"],
      });
    }
    case "tokens": {
      const [action, target, ...extra] = rest;
      if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
      if (action === "rm" && (target === undefined) === (values.all !== true)) {
        throw new UsageError("tokens rm takes an origin or a payment hash, or --all");
      }
      if (action === "list" && target !== undefined) throw new UsageError("tokens list takes no argument");
      return validate(tokensSchema, { ...connection, command, action, target, all: values.all ?? false });
    }
    case "receipts":
      expectPositionals(command, rest, 0, "");
      return validate(receiptsSchema, {
        ...connection,
        command,
        origin: values.origin,
        status: values.status,
        limit: values.limit,
      });
    case "budget": {
      const [action = "show", ...extra] = rest;
      if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
      const limits = {
        hourlySats: values.hourly,
        dailySats: values.daily,
        totalSats: values.total,
        perOriginSats: values["per-origin"],
      };
      if (action === "set" && Object.values(limits).every((value) => value === undefined)) {
        throw new UsageError("budget set needs at least one of --hourly, --daily, --total, --per-origin");
      }
      return validate(budgetSchema, { ...connection, command, action, ...limits });
    }
    case undefined:
      throw new UsageError("no command given");
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

function expectPositionals(command: string, rest: readonly string[], count: number, what: string): void {
  if (rest.length !== count) {
    throw new UsageError(count === 0 ? `${command} takes no arguments` : `${command} takes exactly one ${what}`);
  }
}

function validate<T extends z.ZodType>(schema: T, input: unknown): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const field = issue.path.join(".");
    return field === "" ? issue.message : `${field}: ${issue.message}`;
  });
  throw new UsageError(problems.join("; "));
}
