import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FileStore, StoreFileError } from "./file.js";

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
    // PID 2^22 + 1 is above Linux's pid_max: no such process.
    writeFileSync(`${path}.lock`, String(2 ** 22 + 1));
    await new FileStore(path).update((state) => {
      state.budgetLimits = { totalSats: 1 };
    });
    expect((await new FileStore(path).read()).budgetLimits).toEqual({ totalSats: 1 });
  });
});
