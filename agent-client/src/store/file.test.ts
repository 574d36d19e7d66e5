import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { raceChildren } from "../test-support/processes.js";
import { FileStore, StoreFileError } from "./file.js";

const RACE_CHILD = join(import.meta.dirname, "..", "test-support", "lock-race-child.ts");
/** PID 2^22 + 1 is above Linux's pid_max: no such process. */
const DEAD_PID = 2 ** 22 + 1;

function tempPath(): string {
  return join(mkdtempSync(join(tmpdir(), "l402-store-")), "store.json");
}

describe("FileStore", () => {
  it("serializes concurrent updates and leaves no temp or lock files", async () => {
    const path = tempPath();
    const store = new FileStore(path);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.update((state) => {
          state.routes.push({ origin: "https://a.test", scope: `/${i}/`, service: "s" });
        }),
      ),
    );
    expect((await new FileStore(path).read()).routes).toHaveLength(20);
    expect(readdirSync(join(path, ".."))).toEqual(["store.json"]);
  });

  it("several stores on one file in one thread exclude each other through the lock", async () => {
    const path = tempPath();
    const stores = Array.from({ length: 4 }, () => new FileStore(path));
    await Promise.all(
      stores.flatMap((store, s) =>
        Array.from({ length: 10 }, (_, i) =>
          store.update((state) => {
            state.routes.push({ origin: "https://a.test", scope: `/${s}-${i}/`, service: "s" });
          }),
        ),
      ),
    );
    expect((await new FileStore(path).read()).routes).toHaveLength(40);
    expect(readdirSync(join(path, ".."))).toEqual(["store.json"]);
  });

  it("an update that throws writes nothing", async () => {
    const store = new FileStore(tempPath());
    await store.update((state) => {
      state.budgetLimits = { dailySats: 5 };
    });
    await expect(
      store.update((state) => {
        state.budgetLimits = {};
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    expect((await store.read()).budgetLimits).toEqual({ dailySats: 5 });
  });

  it("refuses a file that is not a store instead of resetting budgets", async () => {
    const path = tempPath();
    writeFileSync(path, "{ not json");
    await expect(new FileStore(path).read()).rejects.toThrow(StoreFileError);
    writeFileSync(path, JSON.stringify({ version: 1, tokens: "no" }));
    await expect(new FileStore(path).update(() => undefined)).rejects.toThrow(StoreFileError);
  });

  it("takes over a lock left by a dead process", async () => {
    const path = tempPath();
    writeFileSync(`${path}.lock`, String(DEAD_PID));
    await new FileStore(path).update((state) => {
      state.budgetLimits = { totalSats: 1 };
    });
    expect((await new FileStore(path).read()).budgetLimits).toEqual({ totalSats: 1 });
  });

  it("processes racing for a lock left by a crash take it one at a time: no update is lost", async () => {
    const rounds = 5;
    const processes = 6;
    for (let round = 0; round < rounds; round++) {
      const path = tempPath();
      // Both forms a crashed client leaves: a bare pid (earlier versions) and an owner record.
      const dead = { pid: DEAD_PID, thread: 0, hostname: hostname(), nonce: "dead" };
      writeFileSync(`${path}.lock`, round % 2 === 0 ? String(DEAD_PID) : JSON.stringify(dead));
      const names = Array.from({ length: processes }, (_, i) => `p${i}`);
      const results = await raceChildren(
        RACE_CHILD,
        names.map((name) => [path, name]),
      );
      expect(
        results.map((result) => result.code),
        results.map((result) => result.stderr).join(""),
      ).toEqual(names.map(() => 0));
      const scopes = (await new FileStore(path).read()).routes.map((route) => route.scope).sort();
      expect(scopes, `round ${round}`).toEqual(names.map((name) => `/${name}/`).sort());
      expect(readdirSync(join(path, ".."))).toEqual(["store.json"]);
    }
  }, 300_000);

  it("a release never removes a lock another holder owns", async () => {
    const path = tempPath();
    const foreign = JSON.stringify({ pid: process.ppid, thread: 0, hostname: hostname(), nonce: "theirs" });
    // Another holder's lock appears while ours is held (as after a wrongful takeover): releasing ours must leave it.
    await new FileStore(path).update(() => writeFileSync(`${path}.lock`, foreign));
    expect(readFileSync(`${path}.lock`, "utf8")).toBe(foreign);
  });
});
