import { ensureGoBinary } from "../regtest/binaries.js";
import type { GoBinarySpec } from "../regtest/versions.js";
import { type Log, onceUntilFailure, systemPrograms, ToolUnavailableError, toolsLog } from "./system.js";

/** Prometheus 3.5, the long-term-support release; its Go module is versioned v0.<major><minor>.<patch>. */
export const PROMETHEUS_MODULE_VERSION = "v0.305.1";

// The tests scrape static targets only: an empty plugin list leaves out the cloud service discoveries (AWS, Azure, GCE,
// …), which would be most of the build. The web UI's assets are left out too (no `builtinassets` tag): only the API
// is used.
const WITHOUT_DISCOVERY_PLUGINS = { "plugins/plugins.go": "package plugins\n" };

const spec = (name: "prometheus" | "promtool"): GoBinarySpec => ({
  name,
  module: "github.com/prometheus/prometheus",
  version: PROMETHEUS_MODULE_VERSION,
  pkg: `./cmd/${name}`,
  tags: [],
  replacedFiles: WITHOUT_DISCOVERY_PLUGINS,
});

export interface PrometheusBinaries {
  readonly prometheus: string;
  readonly promtool: string;
}

/** `prometheus` and `promtool` from PATH when both are there, else the project's cached build, built on first use. */
export const ensurePrometheus = onceUntilFailure(locate);

async function locate(log: Log = toolsLog): Promise<PrometheusBinaries> {
  const system = systemPrograms("prometheus", "promtool");
  if (system) return { prometheus: system[0], promtool: system[1] };
  try {
    return {
      prometheus: await ensureGoBinary(spec("prometheus"), log),
      promtool: await ensureGoBinary(spec("promtool"), log),
    };
  } catch (error) {
    throw new ToolUnavailableError(
      "Prometheus is not on PATH and could not be built: install it with its promtool (Debian: apt-get install " +
        `prometheus), or Go 1.24+ so that the tests build it.\n${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
