import { inject } from "vitest";
import { type RegtestNetworkInfo, readNetworkFile } from "./network-file.js";

/** The network started for this test run by the global setup. */
export function testNetwork(): RegtestNetworkInfo {
  return readNetworkFile(inject("regtestNetworkFile"));
}
