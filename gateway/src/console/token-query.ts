import { z } from "zod";
import { TOKEN_SORTS, type TokenBrowse } from "../store/owner-reports.js";

export const PAGE_SIZES = [10, 25, 50, 100] as const;
export const DEFAULT_PAGE_SIZE = 25;
/** Offset paging: deeper pages than this are refused (filter or sort instead). */
export const MAX_PAGE = 10_000;

/** An empty form field (an unselected filter) means "not given". */
const optional = <T extends z.ZodTypeAny>(schema: T) =>
  z.preprocess((value) => (value === "" ? undefined : value), schema.optional());

const wholeNumber = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,6}$/, `${name}: a whole number`)
    .transform(Number)
    .pipe(z.number().int().min(min, `${name}: at least ${min}`).max(max, `${name}: at most ${max}`));

/** The query string of the token list, for the services this gateway has. Unknown parameters are refused. */
export function tokenQuerySchema(services: readonly string[]) {
  const names = services.length > 0 ? (services as [string, ...string[]]) : ([""] as [string]);
  return z
    .object({
      q: z.string().max(200).default(""),
      service: optional(z.enum(names, { message: `service: one of ${services.join(", ")}` })),
      status: optional(z.enum(["issued", "paid", "revoked"], { message: "status: issued, paid or revoked" })),
      scheme: optional(z.enum(["l402", "payment"], { message: "scheme: l402 or payment" })),
      sort: optional(z.enum(TOKEN_SORTS, { message: `sort: one of ${TOKEN_SORTS.join(", ")}` })).transform(
        (sort) => sort ?? "created",
      ),
      order: optional(z.enum(["asc", "desc"], { message: "order: asc or desc" })).transform((o) => o ?? "desc"),
      size: optional(
        z
          .string()
          .regex(/^\d{1,6}$/, "size: a whole number")
          .transform(Number)
          .refine((n) => (PAGE_SIZES as readonly number[]).includes(n), {
            message: `size: one of ${PAGE_SIZES.join(", ")}`,
          }),
      ).transform((n) => n ?? DEFAULT_PAGE_SIZE),
      page: optional(wholeNumber("page", 1, MAX_PAGE)).transform((n) => n ?? 1),
    })
    .strict();
}

export type TokenQuery = z.output<ReturnType<typeof tokenQuerySchema>>;

export type ParsedTokenQuery =
  | { readonly ok: true; readonly query: TokenQuery }
  | { readonly ok: false; readonly problems: readonly string[] };

/** Reads an express query object: each parameter once, as a string. */
export function parseTokenQuery(raw: Record<string, unknown>, services: readonly string[]): ParsedTokenQuery {
  const repeated = Object.entries(raw)
    .filter(([, value]) => typeof value !== "string")
    .map(([name]) => `${name}: give it once, as text`);
  if (repeated.length > 0) return { ok: false, problems: repeated };
  const parsed = tokenQuerySchema(services).safeParse(raw);
  if (parsed.success) return { ok: true, query: parsed.data };
  return {
    ok: false,
    problems: parsed.error.issues.map((issue) =>
      issue.code === "unrecognized_keys" ? `unknown parameter: ${issue.keys.join(", ")}` : issue.message,
    ),
  };
}

/** The store's page request for a query. */
export function browseOf(query: TokenQuery): TokenBrowse {
  return {
    ...(query.service ? { service: query.service } : {}),
    ...(query.status ? { status: query.status } : {}),
    ...(query.scheme ? { scheme: query.scheme } : {}),
    sort: query.sort,
    order: query.order,
    limit: query.size,
    offset: (query.page - 1) * query.size,
  };
}

/** The list's URL for a query with some parameters changed; defaults are left out. */
export function listUrl(query: TokenQuery, change: Partial<TokenQuery> = {}): string {
  const next = { ...query, ...change };
  const params = new URLSearchParams();
  if (next.service) params.set("service", next.service);
  if (next.status) params.set("status", next.status);
  if (next.scheme) params.set("scheme", next.scheme);
  if (next.sort !== "created") params.set("sort", next.sort);
  if (next.order !== "desc") params.set("order", next.order);
  if (next.size !== DEFAULT_PAGE_SIZE) params.set("size", String(next.size));
  if (next.page !== 1) params.set("page", String(next.page));
  const search = params.toString();
  return search ? `/console/tokens?${search}` : "/console/tokens";
}
