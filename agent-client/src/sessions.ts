import type { PaymentChallenge } from "@l402-gateway/l402";
import type { ClientState, StoredSession } from "./store/state.js";
import { pathScope } from "./tokens.js";

/**
 * The open session to use for a request: of its origin and path scope (see `pathScope`), the most recently used.
 * A server may bind a session to one service (this project's gateway does), and a bearer call refused there would
 * be taken for a spent balance and topped up: so a session is only presented where it was opened.
 */
export function openSessionFor(state: ClientState, origin: string, scope: string): StoredSession | undefined {
  return state.sessions
    .filter(
      (session) =>
        session.origin === origin && session.status === "open" && pathScope(new URL(session.url).pathname) === scope,
    )
    .sort((a, b) => b.lastUsedAt.localeCompare(a.lastUsedAt))[0];
}

export function findSession(state: ClientState, sessionId: string): StoredSession | undefined {
  return state.sessions.find((session) => session.sessionId === sessionId);
}

/** Applies `change` to the stored session, if it is still there. */
export function updateSession(
  state: ClientState,
  sessionId: string,
  change: (session: StoredSession) => void,
): StoredSession | undefined {
  const session = findSession(state, sessionId);
  if (session) change(session);
  return session;
}

/** A challenge as stored: only the fields it has, so that echoing it adds nothing. */
export function storedChallenge(challenge: PaymentChallenge): StoredSession["challenge"] {
  return Object.fromEntries(
    Object.entries(challenge).filter(([, value]) => value !== undefined),
  ) as StoredSession["challenge"];
}

/**
 * Whether a session challenge is too close to its `expires` to be echoed: Aperture refuses a bearer or close that
 * echoes an expired challenge, so the client refreshes it first (one unpaid 402).
 */
export function challengeNeedsRefresh(challenge: PaymentChallenge, now: Date, marginMs = 60_000): boolean {
  if (challenge.expires === undefined) return false;
  const expires = Date.parse(challenge.expires.toUpperCase());
  return Number.isNaN(expires) || expires - marginMs <= now.getTime();
}
