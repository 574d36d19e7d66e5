import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { summariseProfile } from "../support/profile.js";

export interface GatewayProfiler {
  /** Node options that record the profile (none when not profiling). */
  readonly nodeArgs: readonly string[];
  /** Where the gateway's time went, once it has exited (node writes the profile on exit); undefined if none. */
  summary(): string | undefined;
}

/** A CPU profile of one gateway process (`node --cpu-prof`), when `enabled`. */
export function gatewayProfiler(enabled: boolean | undefined, name: string): GatewayProfiler {
  if (!enabled) return { nodeArgs: [], summary: () => undefined };
  const dir = mkdtempSync(join(tmpdir(), `gateway-profile-${name.replace(/[^a-z0-9]/gi, "-")}-`));
  return {
    nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${dir}`],
    summary: () => {
      const file = readdirSync(dir).find((name) => name.endsWith(".cpuprofile"));
      if (!file) return undefined;
      return `${join(dir, file)}\n${summariseProfile(JSON.parse(readFileSync(join(dir, file), "utf8")))}`;
    },
  };
}
