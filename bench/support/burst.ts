/**
 * A burst: `count` calls, `concurrency` at a time, as fast as they complete. `send` resolves with whether the call
 * got the answer it should (anything else stops the run). Returns calls per second over the whole burst.
 */
export async function burst(count: number, concurrency: number, send: () => Promise<boolean>): Promise<number> {
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < count) {
      next++;
      if (!(await send())) throw new Error("a call of the burst failed");
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return count / ((performance.now() - started) / 1000);
}
