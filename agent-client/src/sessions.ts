import type { PaymentChallenge } from "@l402-gateway/l402";
import type { ClientState, StoredSession } from "./store/state.js";

/** The open session to use for an origin: the most recently used one. */
export function openSessionFor(state: ClientState, origin: string): StoredSession | undefined {
  return state.sessions
    .filter((session) => session.origin === origin && session.status === "open")
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
