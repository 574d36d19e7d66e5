import type { TestProject } from "vitest/node";
import { startNetwork } from "./network.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Path of the network.json of the network started for this test run. */
    regtestNetworkFile: string;
  }
}

/** Starts one regtest network per test run and stops it, with every process, when the run ends. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const network = await startNetwork({});
  project.provide("regtestNetworkFile", network.file);
  return () => network.stop();
}
