import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cookieHeader, cookieValue, SessionStore } from "./session.js";

describe("console sessions", () => {
  const limits = { idleMs: 1_000, absoluteMs: 5_000, maxSessions: 3 };

  it("ends a session after the idle time, and after the absolute time however active", () => {
    let now = 0;
    const sessions = new SessionStore(limits, () => now);
    const idle = sessions.create("a").id;
    const busy = sessions.create("b").id;
    for (now = 900; now <= 4_500; now += 900) expect(sessions.get(busy)?.who).toBe("b");
    expect(sessions.get(idle)).toBeUndefined();
    now = 5_001;
    expect(sessions.get(busy)).toBeUndefined();
  });

  it("keeps at most maxSessions, dropping the least recently used, and forgets a destroyed one", () => {
    let now = 0;
    const sessions = new SessionStore(limits, () => now);
    const ids = ["a", "b", "c"].map((who) => {
      now += 1;
      return sessions.create(who).id;
    });
    now += 1;
    sessions.get(ids[0]);
    sessions.create("d");
    expect(sessions.size).toBe(3);
    expect(sessions.get(ids[1])).toBeUndefined();
    expect(sessions.get(ids[0])?.who).toBe("a");
    sessions.destroy(ids[0]);
    expect(sessions.get(ids[0])).toBeUndefined();
  });

  it("gives each session its own random id and CSRF token", () => {
    const sessions = new SessionStore(limits);
    const a = sessions.create("a");
    const b = sessions.create("a");
    expect(a.id).not.toBe(b.id);
    expect(a.session.csrfToken).not.toBe(b.session.csrfToken);
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("reads only well-formed cookie values, and writes strict HttpOnly cookies", () => {
    expect(cookieValue({ cookie: "x=1; l402_console=abc_DEF-1; y=2" }, "l402_console")).toBe("abc_DEF-1");
    expect(cookieValue({ cookie: "l402_console=a;b" }, "l402_console")).toBe("a");
    expect(cookieValue({ cookie: 'l402_console="<x>"' }, "l402_console")).toBeUndefined();
    expect(cookieValue({}, "l402_console")).toBeUndefined();
    expect(cookieHeader("n", "v", { secure: false })).toBe("n=v; Path=/console; HttpOnly; SameSite=Strict");
    expect(cookieHeader("n", "", { secure: true, maxAgeSeconds: 0 })).toBe(
      "n=; Path=/console; HttpOnly; SameSite=Strict; Secure; Max-Age=0",
    );
  });

  it("compares the admin secret and CSRF tokens through digests and timingSafeEqual only (by inspection)", () => {
    const source = (file: string) => readFileSync(join(import.meta.dirname, file), "utf8");
    expect(source("session.ts")).toMatch(
      /return timingSafeEqual\(createHash\("sha256"\)\.update\(a\)\.digest\(\), createHash\("sha256"\)\.update\(b\)\.digest\(\)\);/,
    );
    const router = source("routes/sign-in.ts");
    expect(router).toMatch(/sameSecret\(form\.data\.secret, parts\.adminSecret\)/);
    expect(router).toMatch(/sameSecret\(submitted, session\.csrfToken\)/);
    expect(router).toMatch(/sameSecret\(form\.data\.csrf, expected\)/);
    expect(router).not.toMatch(/adminSecret\s*[!=]==|csrfToken\s*[!=]==|[!=]==\s*(parts\.)?adminSecret/);
  });
});
