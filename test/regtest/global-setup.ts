import type { TestProject } from "vitest/node";
import { provideTools } from "../tools/provide.js";
import { toolsLog } from "../tools/system.js";
import { startNetwork } from "./network.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Path of the network.json of the network started for this test run. */
    regtestNetworkFile: string;
  }
}

/** Starts one regtest network per test run and stops it, with every process, when the run ends. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The model, PostgreSQL and Prometheus first (vitest runs every project's global setup before any test), with
  // progress, so no test spends its own timeout providing them; what cannot be provided is named once here, and the
  // tests that need it fail with the same line.
  for (const problem of await provideTools()) toolsLog(problem);
  const network = await startNetwork({});
  project.provide("regtestNetworkFile", network.file);
  return () => network.stop();
}
