import { ensureAperture } from "./aperture.js";
import { ensureBrowser } from "./browser.js";
import { ensureLlamaServer } from "./llama-server.js";
import { ensureDefaultModel } from "./model.js";
import { ensureOllama } from "./ollama.js";
import { ensurePostgres } from "./postgres.js";
import { ensurePrometheus } from "./prometheus.js";
import { type Log, toolsLog } from "./system.js";

/**
 * Finds or provides, one after the other, what the tests need besides the Lightning nodes: the default model,
 * PostgreSQL, Prometheus (with promtool), Aperture, a headless Chromium, and the inference servers llama.cpp `llama-server` and Ollama. Run once before any test (the regtest project's global setup), so that no
 * test spends its own time fetching or building them. Returns one message per thing that could not be provided,
 * saying what it is and how to get it.
 */
export async function provideTools(log: Log = toolsLog): Promise<string[]> {
  const started = Date.now();
  const steps: (() => Promise<string>)[] = [
    async () => `model ${await ensureDefaultModel(log)}`,
    async () => {
      const { binDir, runAs } = await ensurePostgres(log);
      return `PostgreSQL ${binDir}${runAs ? ` (run as ${runAs.name})` : ""}`;
    },
    async () => {
      const { prometheus, promtool } = await ensurePrometheus(log);
      return `prometheus ${prometheus}, promtool ${promtool}`;
    },
    async () => `aperture ${await ensureAperture(log)}`,
    async () => {
      const { executablePath, source } = await ensureBrowser(log);
      return `chromium ${executablePath} (${source})`;
    },
    async () => `llama-server ${await ensureLlamaServer(log)}`,
    async () => `ollama ${await ensureOllama(log)}`,
  ];
  const found: string[] = [];
  const problems: string[] = [];
  for (const step of steps) {
    try {
      found.push(await step());
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  if (found.length > 0) log(`${found.join("; ")} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return problems;
}
