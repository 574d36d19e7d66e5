import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { Agent } from "undici";
import { L402ClientError } from "./errors.js";
import { literalAddress, loopbackAddresses, type ResolvedAddress, type Resolver, systemResolver } from "./loopback.js";

/**
 * Decides which origins a credential or a payment may be sent to, hop by hop: https anywhere; plain HTTP only to
 * loopback (or anywhere with `allowInsecure`). Loopback means an address: a literal 127.0.0.0/8 or ::1, or a name
 * (`localhost`, `*.localhost`, any other) that resolves only to such addresses. A name checked that way is pinned:
 * the default fetch connects to the addresses checked (`lookup`), so a DNS answer that changes after the check
 * (rebinding) cannot send the request elsewhere. A custom fetch resolves by itself; give it a literal address.
 */
export class OriginGuard {
  readonly #pins = new Map<string, readonly ResolvedAddress[]>();

  constructor(
    readonly allowInsecure: boolean,
    private readonly resolve: Resolver = systemResolver,
  ) {}

  /** Throws `insecure_origin` for a plain-HTTP origin that is not loopback (unless allowed). */
  async check(url: URL): Promise<void> {
    if (url.protocol !== "http:" || this.allowInsecure) return;
    const addresses = await loopbackAddresses(url.hostname, this.resolve);
    if (!addresses) throw insecureOrigin(url);
    if (literalAddress(url.hostname) === undefined) this.#pins.set(url.hostname.toLowerCase(), addresses);
  }

  /** The addresses a checked loopback name is pinned to; undefined for any other host. */
  pinned(hostname: string): readonly ResolvedAddress[] | undefined {
    return this.#pins.get(hostname.toLowerCase());
  }

  /** `net.connect`'s lookup: a pinned name gets the addresses checked, any other host the system's answer. */
  readonly lookup = (
    hostname: string,
    options: LookupOptions,
    callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    const pinned = this.pinned(hostname)?.filter(
      (entry) => options.family === undefined || options.family === 0 || entry.family === options.family,
    );
    if (pinned === undefined || pinned.length === 0) {
      dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
        if (error) callback(error, []);
        else if (options.all) callback(null, addresses);
        else callback(null, addresses[0]?.address ?? "", addresses[0]?.family);
      });
      return;
    }
    if (options.all)
      callback(
        null,
        pinned.map(({ address, family }) => ({ address, family })),
      );
    else callback(null, pinned[0]?.address ?? "", pinned[0]?.family);
  };
}

function insecureOrigin(url: URL): L402ClientError {
  return new L402ClientError(
    "insecure_origin",
    `${url.origin} is plain HTTP and not loopback (a name counts as loopback only when it resolves to loopback ` +
      "addresses alone): a credential or payment sent there could be read and spent by anyone on the path; use " +
      "https, or allow it explicitly (allowInsecure, CLI --insecure)",
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

/**
 * The global fetch, through a dispatcher of its own that connects a pinned loopback name to the addresses `guard`
 * checked, and trusts `ca` (when given) in addition to Node's public root certificates.
 */
export function fetchThrough(guard: OriginGuard, ca?: string): (request: Request) => Promise<Response> {
  const dispatcher = new Agent({
    connect: { lookup: guard.lookup, ...(ca === undefined ? {} : { ca: [...rootCertificates, readCa(ca)] }) },
  });
  // Node's fetch takes an undici dispatcher; @types/node describes it with its own copy of undici's types, which
  // the undici package's do not match structurally, hence the cast.
  const init = { dispatcher } as unknown as RequestInit;
  return (request) => fetch(request, init);
}
