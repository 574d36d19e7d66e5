import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
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

  it("threads of one process take the lock one at a time, also after a crash left one behind", async () => {
    const path = tempPath();
    writeFileSync(`${path}.lock`, String(DEAD_PID));
    // Each worker loads the TypeScript source through tsx, waits at the gate, then makes five updates at once.
    const code = `
      const { register } = await import("tsx/esm/api");
      register();
      const { workerData, parentPort } = await import("node:worker_threads");
      const { FileStore } = await import(workerData.module);
      const store = new FileStore(workerData.path);
      const gate = new Int32Array(workerData.gate);
      Atomics.add(gate, 1, 1);
      Atomics.wait(gate, 0, 0);
      await Promise.all([0, 1, 2, 3, 4].map((i) => store.update((state) => {
        state.routes.push({ origin: "https://threads.test", scope: "/" + workerData.name + "-" + i + "/", service: "s" });
      })));
      parentPort.postMessage("done");
    `;
    const module = new URL("./file.ts", import.meta.url).href;
    const gate = new Int32Array(new SharedArrayBuffer(8));
    const workers = Array.from(
      { length: 4 },
      (_, n) => new Worker(code, { eval: true, workerData: { path, module, name: `w${n}`, gate: gate.buffer } }),
    );
    const done = workers.map(
      (worker) =>
        new Promise((resolveDone, rejectDone) => {
          worker.once("message", resolveDone);
          worker.once("error", rejectDone);
        }),
    );
    const main = new FileStore(path);
    await expect.poll(() => Atomics.load(gate, 1), { timeout: 60_000 }).toBe(4);
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    await Promise.all([
      ...done,
      ...[0, 1, 2, 3, 4].map((i) =>
        main.update((state) => {
          state.routes.push({ origin: "https://threads.test", scope: `/main-${i}/`, service: "s" });
        }),
      ),
    ]);
    await Promise.all(workers.map((worker) => worker.terminate()));
    expect((await new FileStore(path).read()).routes).toHaveLength(25);
    expect(readdirSync(join(path, ".."))).toEqual(["store.json"]);
  }, 120_000);
});
