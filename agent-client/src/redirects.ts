import { L402ClientError } from "./errors.js";
import type { ReplayableRequest } from "./request-body.js";
import { fetchWithTimeouts, type Timeouts, withFinalUrl } from "./timed-fetch.js";
import { OriginGuard } from "./transport.js";

/** fetch's own limit. */
const MAX_REDIRECTS = 20;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export interface SendOptions {
  readonly send: (request: Request) => Promise<Response>;
  readonly timeouts: Timeouts;
  readonly allowInsecure: boolean;
  /** Checks each hop (and pins loopback names, see OriginGuard); by default one made from `allowInsecure`. */
  readonly guard?: OriginGuard;
}

/**
 * Sends the request and follows redirects itself, so that every hop is checked before anything is sent to it: no
 * hop to a plain-HTTP origin on the network (`insecure_origin`), and a request that carries a credential follows
 * redirects within its origin only (`redirect_refused`), whatever the fetch underneath would do with the header.
 */
export async function sendFollowing(
  first: ReplayableRequest,
  authorization: string | undefined,
  options: SendOptions,
): Promise<Response> {
  let request = first;
  const guard = options.guard ?? new OriginGuard(options.allowInsecure);
  for (let hop = 0; ; hop++) {
    const url = request.url;
    await guard.check(url);
    const response = await fetchWithTimeouts(
      options.send,
      (signal) => request.build(authorization, signal),
      options.timeouts,
    );
    const location = response.headers.get("location");
    if (!REDIRECT_STATUSES.has(response.status) || location === null || !URL.canParse(location, url.href)) {
      return hop === 0 ? response : withFinalUrl(response, url.href, true);
    }
    await response.body?.cancel();
    const next = new URL(location, url);
    if (authorization !== undefined && next.origin !== url.origin) {
      throw new L402ClientError(
        "redirect_refused",
        `${url.origin} redirected a request that carries an L402 credential to ${next.origin}; not following, so ` +
          "that the credential stays with the origin it was bought from",
      );
    }
    if (hop >= MAX_REDIRECTS) {
      throw new L402ClientError("redirect_refused", `more than ${MAX_REDIRECTS} redirects from ${first.url.href}`);
    }
    request = request.redirected(response.status, next);
  }
}
