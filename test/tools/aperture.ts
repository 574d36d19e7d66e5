import { ensureGoBinary } from "../regtest/binaries.js";
import type { GoBinarySpec } from "../regtest/versions.js";
import { type Log, onceUntilFailure, ToolUnavailableError, toolsLog } from "./system.js";

/** Lightning Labs' L402 proxy, the peer the interoperability tests and the gateway benchmark run against. */
export const APERTURE_VERSION = "v0.5.0";

const spec: GoBinarySpec = {
  name: "aperture",
  module: "github.com/lightninglabs/aperture",
  version: APERTURE_VERSION,
  pkg: "./cmd/aperture",
  tags: [],
};

/** The cached `aperture` build, built from the Go module proxy on first use (about 13 CPU-minutes). */
export const ensureAperture = onceUntilFailure(async (log: Log = toolsLog): Promise<string> => {
  try {
    return await ensureGoBinary(spec, log);
  } catch (error) {
    throw new ToolUnavailableError(
      `Aperture ${APERTURE_VERSION} could not be built: Go 1.26+ and the Go module proxy are needed.\n${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }
});
