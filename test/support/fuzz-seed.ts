import fc from "fast-check";

/**
 * Property runs use a fixed seed (reproducible in CI) and then a random one that is printed, so any failure can be
 * replayed with FUZZ_SEED=<seed>.
 */
function seeds(): number[] {
  const fromEnv = process.env.FUZZ_SEED;
  if (fromEnv !== undefined) return [Number(fromEnv)];
  return [20261124, Math.floor(Math.random() * 2 ** 31)];
}

export async function checkProperty<T>(
  name: string,
  property: fc.IProperty<T> | fc.IAsyncProperty<T>,
  numRuns: number,
): Promise<void> {
  for (const seed of seeds()) {
    console.log(`${name}: ${numRuns} cases, seed ${seed} (replay with FUZZ_SEED=${seed})`);
    await fc.assert(property, { seed, numRuns });
  }
}
