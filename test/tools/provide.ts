import { ensurePostgres } from "./postgres.js";
import { ensurePrometheus } from "./prometheus.js";
import { type Log, toolsLog } from "./system.js";

/**
 * Finds or provides, one after the other, the programs that tests run besides the Lightning nodes: Prometheus (with
 * promtool) and PostgreSQL. Run once before the tests, so that no test spends its own time building them.
 * Returns one message per program that could not be provided (what it is, how to get it).
 */
export async function provideTools(log: Log = toolsLog): Promise<string[]> {
  const started = Date.now();
  const problems: string[] = [];
  const found: string[] = [];
  try {
    const { prometheus, promtool } = await ensurePrometheus(log);
    found.push(`prometheus ${prometheus}, promtool ${promtool}`);
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  try {
    const { binDir, runAs } = await ensurePostgres(log);
    found.push(`PostgreSQL ${binDir}${runAs ? ` (run as ${runAs.name})` : ""}`);
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  if (found.length > 0) log(`${found.join("; ")} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return problems;
}
