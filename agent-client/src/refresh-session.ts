import { readOffers, type SessionOffer } from "./offers.js";
import { type SendOptions, sendFollowing } from "./redirects.js";
import { ReplayableRequest } from "./request-body.js";
import { challengeNeedsRefresh, storedChallenge, updateSession } from "./sessions.js";
import type { StoredSession } from "./store/state.js";
import type { ClientStore } from "./store/store.js";

/**
 * The session with a challenge fit to echo: one about to expire is replaced by the session challenge of a fresh
 * unpaid 402 from `url` (its invoice is left unpaid). Kept as it is when none comes.
 */
export async function refreshedSession(args: {
  readonly session: StoredSession;
  readonly url: string;
  readonly store: ClientStore;
  readonly now: () => Date;
  readonly send: SendOptions;
}): Promise<StoredSession> {
  const { session, store } = args;
  if (!challengeNeedsRefresh(session.challenge, args.now())) return session;
  const response = await sendFollowing(await ReplayableRequest.from(args.url, { method: "GET" }), undefined, args.send);
  await response.body?.cancel();
  if (response.status !== 402) return session;
  let fresh: SessionOffer | undefined;
  try {
    fresh = readOffers(response.headers).find((offer): offer is SessionOffer => offer.kind === "session");
  } catch {
    return session;
  }
  if (!fresh) return session;
  const challenge = storedChallenge(fresh.challenge);
  return (
    (await store.update((state) =>
      updateSession(state, session.sessionId, (stored) => {
        stored.challenge = challenge;
      }),
    )) ?? session
  );
}
