/**
 * `npx tsx test/tools/cli.ts`: finds or provides the model, PostgreSQL, Prometheus, Aperture, a headless browser, llama-server and Ollama for the tests, as the test run
 * does first.
 */
import { provideTools } from "./provide.js";

const problems = await provideTools();
for (const problem of problems) process.stderr.write(`[tools] ${problem}\n`);
process.exitCode = problems.length > 0 ? 1 : 0;
