import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

/** A signed-in operator: the name given at sign-in (for the audit log), and the CSRF token of every form. */
export interface ConsoleSession {
  readonly who: string;
  readonly csrfToken: string;
  readonly createdAt: number;
  lastSeenAt: number;
}

export const SESSION_COOKIE = "l402_console";
/** Holds the sign-in form's CSRF token before there is a session (double submit). */
export const SIGN_IN_COOKIE = "l402_console_signin";

export interface SessionLimits {
  /** Signed out after this long without a request. */
  readonly idleMs: number;
  /** Signed out this long after signing in, whatever the activity. */
  readonly absoluteMs: number;
  /** Sessions kept at most; the least recently used goes first. */
  readonly maxSessions: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  idleMs: 30 * 60_000,
  absoluteMs: 12 * 3_600_000,
  maxSessions: 64,
};

const digest = (value: string) => createHash("sha256").update(value).digest("hex");

export const randomToken = () => randomBytes(32).toString("base64url");

/** Compares two secrets in constant time (their digests, so lengths do not leak either). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}

/**
 * Server-side sessions in memory: the cookie carries a random id, the map is keyed by its digest, so a memory dump
 * or a log line with a key never yields a usable cookie. A restart signs everyone out.
 */
export class SessionStore {
  private readonly sessions = new Map<string, ConsoleSession>();

  constructor(
    private readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts a session; returns the cookie value. */
  create(who: string): { id: string; session: ConsoleSession } {
    const id = randomToken();
    const at = this.now();
    const session: ConsoleSession = { who, csrfToken: randomToken(), createdAt: at, lastSeenAt: at };
    this.sessions.set(digest(id), session);
    while (this.sessions.size > this.limits.maxSessions) {
      const oldest = [...this.sessions.entries()].reduce((a, b) => (a[1].lastSeenAt <= b[1].lastSeenAt ? a : b));
      this.sessions.delete(oldest[0]);
    }
    return { id, session };
  }

  /** The live session of a cookie value, touched; undefined (and forgotten) when unknown or expired. */
  get(id: string | undefined): ConsoleSession | undefined {
    if (!id) return undefined;
    const key = digest(id);
    const session = this.sessions.get(key);
    if (!session) return undefined;
    const at = this.now();
    if (at - session.lastSeenAt > this.limits.idleMs || at - session.createdAt > this.limits.absoluteMs) {
      this.sessions.delete(key);
      return undefined;
    }
    session.lastSeenAt = at;
    return session;
  }

  destroy(id: string | undefined): void {
    if (id) this.sessions.delete(digest(id));
  }

  get size(): number {
    return this.sessions.size;
  }
}

/** One cookie's value from the Cookie header; undefined when absent or malformed. */
export function cookieValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  for (const part of (headers.cookie ?? "").split(";")) {
    const separator = part.indexOf("=");
    if (separator < 0 || part.slice(0, separator).trim() !== name) continue;
    const value = part.slice(separator + 1).trim();
    return /^[A-Za-z0-9_-]{1,128}$/.test(value) ? value : undefined;
  }
  return undefined;
}

/** A Set-Cookie value: HttpOnly, SameSite=Strict, scoped to the console, Secure when the request came over TLS. */
export function cookieHeader(
  name: string,
  value: string,
  options: { secure: boolean; maxAgeSeconds?: number },
): string {
  const parts = [`${name}=${value}`, "Path=/console", "HttpOnly", "SameSite=Strict"];
  if (options.secure) parts.push("Secure");
  if (options.maxAgeSeconds !== undefined) parts.push(`Max-Age=${options.maxAgeSeconds}`);
  return parts.join("; ");
}
