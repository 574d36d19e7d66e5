import { describe, expect, it } from "vitest";
import { AbortedWhileQueuedError, QueueFullError, SlotPool } from "./slot-pool.js";

describe("SlotPool", () => {
  it("hands out idle slots, then queues FIFO up to the bound, then fails fast", async () => {
    const pool = new SlotPool(["a", "b"], 2);
    expect([await pool.acquire(), await pool.acquire()].sort()).toEqual(["a", "b"]);
    const order: string[] = [];
    const first = pool.acquire().then((slot) => order.push(`first:${slot}`));
    const second = pool.acquire().then((slot) => order.push(`second:${slot}`));
    expect(pool.queueDepth).toBe(2);
    await expect(pool.acquire()).rejects.toBeInstanceOf(QueueFullError);
    pool.release("b");
    pool.release("a");
    await Promise.all([first, second]);
    expect(order).toEqual(["first:b", "second:a"]);
    expect(pool.busy).toBe(2);
  });

  it("drops a waiter whose request is aborted", async () => {
    const pool = new SlotPool(["a"], 4);
    await pool.acquire();
    const controller = new AbortController();
    const waiting = pool.acquire(controller.signal);
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortedWhileQueuedError);
    expect(pool.queueDepth).toBe(0);
    pool.release("a");
    expect(pool.idle).toBe(1);
  });

  it("prefers the idle slot that scores best", async () => {
    const pool = new SlotPool(["short", "longest", "mid"], 0);
    expect(await pool.acquire(undefined, (slot) => slot.length)).toBe("longest");
  });
});
