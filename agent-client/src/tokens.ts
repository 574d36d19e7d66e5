import type { ClientState, StoredToken } from "./store/state.js";

/**
 * The cache key rule. One origin may sell several services (/v1/ → llm, /weather/ → weather), each with its own
 * token, so tokens are filed by (origin, service), where the service is read from the macaroon's `services=` caveat,
 * never guessed from the URL. To choose a token before a request, the client remembers which service last answered
 * each path scope of an origin (the first path segment: "/v1/chat/completions" → "/v1/"):
 *
 *   1. a route hint for (origin, scope) names a service → that service's token, if one is cached and unexpired;
 *   2. no hint → the origin's most recently used token (one round trip at worst: the 402 tells the service);
 *   3. on a 402, the challenge's macaroon names the service the server wants. The refused token is dropped only when
 *      it was for that same service (revoked, expired, narrowed); a token for another service is kept. Then a cached
 *      token for the wanted service is tried, and only when there is none is the challenge paid.
 *
 * So a token is never thrown away because it was sent to the wrong service, and alternating calls to two services on
 * one origin pay once per service, not once per call.
 */
export function pathScope(pathname: string): string {
  const match = /^\/[^/]*\/?/.exec(pathname);
  return match?.[0] ?? "/";
}

export function isUsable(token: StoredToken, now: Date): boolean {
  return token.validUntil === null || token.validUntil * 1000 > now.getTime();
}

/** The token to send first for a request, or undefined to send none. */
export function chooseToken(state: ClientState, origin: string, scope: string, now: Date): StoredToken | undefined {
  const hint = state.routes.find((route) => route.origin === origin && route.scope === scope);
  if (hint) return tokenFor(state, origin, hint.service, now);
  return mostRecent(state.tokens.filter((token) => token.origin === origin && isUsable(token, now)));
}

/** A usable cached token for (origin, service) other than those already refused in this call. */
export function tokenFor(
  state: ClientState,
  origin: string,
  service: string,
  now: Date,
  exclude: ReadonlySet<string> = new Set(),
): StoredToken | undefined {
  return mostRecent(
    state.tokens.filter(
      (token) =>
        token.origin === origin && token.service === service && isUsable(token, now) && !exclude.has(token.paymentHash),
    ),
  );
}

/** Keeps one token per (origin, service): a new purchase replaces the old one. */
export function putToken(state: ClientState, token: StoredToken): void {
  state.tokens = state.tokens.filter(
    (other) =>
      other.paymentHash !== token.paymentHash && !(other.origin === token.origin && other.service === token.service),
  );
  state.tokens.push(token);
}

export function removeToken(state: ClientState, paymentHash: string): boolean {
  const before = state.tokens.length;
  state.tokens = state.tokens.filter((token) => token.paymentHash !== paymentHash);
  return state.tokens.length !== before;
}

export function rememberRoute(state: ClientState, origin: string, scope: string, service: string): void {
  const existing = state.routes.find((route) => route.origin === origin && route.scope === scope);
  if (existing) existing.service = service;
  else state.routes.push({ origin, scope, service });
}

/** Drops tokens whose valid_until has passed. */
export function pruneExpired(state: ClientState, now: Date): void {
  state.tokens = state.tokens.filter((token) => isUsable(token, now));
}

function mostRecent(tokens: readonly StoredToken[]): StoredToken | undefined {
  return [...tokens].sort((a, b) => b.lastUsedAt.localeCompare(a.lastUsedAt))[0];
}
