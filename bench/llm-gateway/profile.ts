import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { summariseProfile } from "../support/profile.js";

export interface GatewayProfiler {
  /** Node options that record the profile (none when not profiling). */
  readonly nodeArgs: readonly string[];
  /** Marks the start and the end of the measured rounds: the summary leaves out the start-up before them. */
  mark(): void;
  /** Where the gateway's time went in the rounds, once it has exited (node writes the profile on exit). */
  summary(): string | undefined;
}

/** Monotonic microseconds, the clock a CPU profile's sample times are on (in every process of this machine). */
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

/** A CPU profile of one gateway process (`node --cpu-prof`), when `enabled`. */
export function gatewayProfiler(enabled: boolean | undefined, name: string): GatewayProfiler {
  if (!enabled) return { nodeArgs: [], mark: () => {}, summary: () => undefined };
  const dir = mkdtempSync(join(tmpdir(), `gateway-profile-${name.replace(/[^a-z0-9]/gi, "-")}-`));
  const marks: number[] = [];
  return {
    nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${dir}`],
    mark: () => marks.push(nowUs()),
    summary: () => {
      const file = readdirSync(dir).find((entry) => entry.endsWith(".cpuprofile"));
      if (!file) return undefined;
      const [from = 0, to = Number.POSITIVE_INFINITY] = marks;
      const profile = JSON.parse(readFileSync(join(dir, file), "utf8"));
      return `${join(dir, file)} (the measured rounds)\n${summariseProfile(profile, 20, { from, to })}`;
    },
  };
}
