export class NotReadyError extends Error {
  override readonly name = "NotReadyError";
}

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /** Checked before every attempt: a returned error ends the wait at once (e.g. the process died). */
  readonly abortIf?: () => Promise<Error | undefined> | Error | undefined;
}

/**
 * Polls `probe` until it returns a value other than undefined. A probe that throws counts as "not yet";
 * its last message is reported if the time bound passes.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, options: WaitOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 250;
  let lastProblem = "no answer yet";
  for (;;) {
    const abort = await options.abortIf?.();
    if (abort) throw abort;
    try {
      const value = await probe();
      if (value !== undefined) return value;
      lastProblem = "condition not met yet";
    } catch (error) {
      lastProblem = error instanceof Error ? error.message : JSON.stringify(error);
    }
    if (Date.now() >= deadline) {
      throw new NotReadyError(
        `${what} was not ready within ${Math.round(options.timeoutMs / 1000)} s (last: ${lastProblem})`,
      );
    }
    await new Promise((resolvePromise) => setTimeout(resolvePromise, interval));
  }
}
