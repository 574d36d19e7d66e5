import type { IncomingHttpHeaders } from "node:http";
import { MACAROON_HEADERS } from "@l402-gateway/l402";

/** RFC 9110 §7.6.1 hop-by-hop headers, plus proxy credentials; never forwarded in either direction. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

type HeaderValue = string | string[] | undefined;

/** Headers a credential may come in (Authorization, and Aperture's macaroon headers that hold the preimage). */
const CREDENTIAL_HEADERS = ["authorization", ...MACAROON_HEADERS];
/** Request headers not sent upstream beside the hop-by-hop ones: Host, and credentials unless they are forwarded. */
const NOT_FORWARDED = { withCredential: ["host"], withoutCredential: ["host", ...CREDENTIAL_HEADERS] } as const;

/** Copies headers, dropping hop-by-hop ones, those named in Connection, and any listed in `drop`. */
export function endToEndHeaders(
  headers: Record<string, HeaderValue>,
  drop: readonly string[] = [],
): Record<string, string | string[]> {
  const connectionListed = connectionTokens(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || drop.includes(lower) || connectionListed?.has(lower)) continue;
    out[name] = value;
  }
  return out;
}

/** The header names a Connection header lists (hop-by-hop for this message), if it lists any but keep-alive/close. */
function connectionTokens(connection: HeaderValue): Set<string> | undefined {
  if (connection === undefined) return undefined;
  const text = String(connection).toLowerCase();
  if (text === "keep-alive" || text === "close") return undefined;
  return new Set(
    text
      .split(",")
      .map((token) => token.trim())
      .filter(Boolean),
  );
}

export interface ForwardedFor {
  readonly clientIp: string;
  readonly proto: string;
  readonly host: string | undefined;
}

/** The request headers for the upstream: end-to-end headers plus X-Forwarded-For, -Proto and -Host. */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  forwarded: ForwardedFor,
  forwardCredential: boolean,
): Record<string, string | string[]> {
  const headers = endToEndHeaders(
    incoming,
    forwardCredential ? NOT_FORWARDED.withCredential : NOT_FORWARDED.withoutCredential,
  );
  const prior = incoming["x-forwarded-for"];
  headers["x-forwarded-for"] = prior ? `${String(prior)}, ${forwarded.clientIp}` : forwarded.clientIp;
  headers["x-forwarded-proto"] = forwarded.proto;
  if (forwarded.host) headers["x-forwarded-host"] = forwarded.host;
  return headers;
}
