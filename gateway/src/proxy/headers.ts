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

/** Copies headers, dropping hop-by-hop ones, those named in Connection, and any listed in `drop`. */
export function endToEndHeaders(
  headers: Record<string, HeaderValue>,
  drop: readonly string[] = [],
): Record<string, string | string[]> {
  const connectionListed = String(headers.connection ?? "")
    .split(",")
    .map((token) => token.trim().toLowerCase())
    .filter(Boolean);
  const skip = new Set([...HOP_BY_HOP, ...connectionListed, ...drop]);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || skip.has(name.toLowerCase())) continue;
    out[name] = value;
  }
  return out;
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
  const headers = endToEndHeaders(incoming, ["host", ...(forwardCredential ? [] : CREDENTIAL_HEADERS)]);
  const prior = incoming["x-forwarded-for"];
  headers["x-forwarded-for"] = prior ? `${String(prior)}, ${forwarded.clientIp}` : forwarded.clientIp;
  headers["x-forwarded-proto"] = forwarded.proto;
  if (forwarded.host) headers["x-forwarded-host"] = forwarded.host;
  return headers;
}
