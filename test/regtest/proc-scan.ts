import { readdirSync, readFileSync } from "node:fs";

/** Pids of live processes whose command line contains `needle` (Linux /proc). */
export function pidsWithCommandLine(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmdline.includes(needle) && Number(entry) !== process.pid) pids.push(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}
