import { readdirSync, readFileSync } from "node:fs";

/** The clock ticks per second /proc/<pid>/stat counts in (USER_HZ, 100 on every Linux build that matters). */
const TICKS_PER_SECOND = 100;

function statFields(pid: number): string[] | undefined {
  try {
    // The command name may hold spaces and parentheses: the fields start after its last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds (user + system) used so far by `pid` and every live process below it (cluster workers), from /proc.
 * Measured around a load run, it gives CPU per request: a figure that other load on a shared machine skews far
 * less than requests per second. Undefined where /proc is missing.
 */
export function processTreeCpuSeconds(pid: number): number | undefined {
  if (statFields(pid) === undefined) return undefined;
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    const child = Number(entry);
    if (!Number.isInteger(child)) continue;
    const parent = Number(statFields(child)?.[1]);
    if (Number.isInteger(parent)) children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  let ticks = 0;
  const pending = [pid];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const fields = statFields(next);
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
    if (fields) ticks += Number(fields[11]) + Number(fields[12]);
    pending.push(...(children.get(next) ?? []));
  }
  return ticks / TICKS_PER_SECOND;
}
