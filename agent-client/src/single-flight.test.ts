import { describe, expect, it } from "vitest";
import { KeyedMutex } from "./single-flight.js";

describe("KeyedMutex", () => {
  it("runs tasks of one key one at a time, and other keys freely", async () => {
    const mutex = new KeyedMutex();
    const log: string[] = [];
    let releaseFirst = () => {};
    const first = mutex.run("a", async () => {
      log.push("a1 start");
      await new Promise<void>((resolve) => {
        releaseFirst = resolve;
      });
      log.push("a1 end");
    });
    const second = mutex.run("a", async () => {
      log.push("a2");
    });
    await mutex.run("b", async () => {
      log.push("b");
    });
    expect(log).toEqual(["a1 start", "b"]);
    releaseFirst();
    await Promise.all([first, second]);
    expect(log).toEqual(["a1 start", "b", "a1 end", "a2"]);
  });

  it("a failing task releases the key", async () => {
    const mutex = new KeyedMutex();
    await expect(mutex.run("a", () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await mutex.run("a", async () => "next")).toBe("next");
    await mutex.idle("a");
  });
});
