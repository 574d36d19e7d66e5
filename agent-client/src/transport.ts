import { readFileSync } from "node:fs";
import { isIPv4 } from "node:net";
import { rootCertificates } from "node:tls";
import { Agent } from "undici";
import { L402ClientError } from "./errors.js";

/** Whether `url` can only reach this machine: `localhost` (and its subdomains), 127.0.0.0/8 or [::1]. */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname.toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost") || host === "[::1]") return true;
  return isIPv4(host) && host.startsWith("127.");
}

/**
 * An L402 credential is a bearer token and a payment buys one: neither goes to a plain-HTTP origin on the network,
 * where anyone on the path could read it, unless the caller allows it (`allowInsecure`).
 */
export function assertSecureOrigin(url: URL, allowInsecure: boolean): void {
  if (url.protocol !== "http:" || allowInsecure || isLoopbackUrl(url)) return;
  throw new L402ClientError(
    "insecure_origin",
    `${url.origin} is plain HTTP: a credential or payment sent there could be read and spent by anyone on the ` +
      "path; use https, or allow it explicitly (allowInsecure, CLI --insecure)",
  );
}

/** A PEM string is used as it is; anything else is read as the path of a PEM file. */
export function readCa(ca: string): string {
  if (ca.includes("-----BEGIN")) return ca;
  try {
    return readFileSync(ca, "utf8");
  } catch (error) {
    throw new TypeError(`ca: cannot read ${ca}: ${(error as Error).message}`, { cause: error });
  }
}

/** The global fetch, trusting `ca` in addition to Node's public root certificates. */
export function fetchTrusting(ca: string): (request: Request) => Promise<Response> {
  const dispatcher = new Agent({ connect: { ca: [...rootCertificates, readCa(ca)] } });
  // Node's fetch takes an undici dispatcher; @types/node describes it with its own copy of undici's types, which
  // the undici package's do not match structurally, hence the cast.
  const init = { dispatcher } as unknown as RequestInit;
  return (request) => fetch(request, init);
}
