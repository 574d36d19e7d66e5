/** The parts of a V8 CPU profile (`node --cpu-prof`) this summary reads. */
interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  /** Microseconds on the monotonic clock (what `process.hrtime` reads). */
  readonly startTime: number;
}

/** Where a function lives, short: a package name, one of ours (workspace/file), or node's own. */
function placeOf(url: string): string {
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dependency?.[1]) return dependency[1];
  if (url.startsWith("node:")) return url;
  if (url === "") return "native";
  return url.split("/").slice(-3).join("/");
}

/**
 * The top functions by self time and the top places (packages, our files), as percentages of the samples; of those
 * taken within `window` (monotonic microseconds, as `process.hrtime`) when given, such as while a load ran.
 */
export function summariseProfile(profile: CpuProfile, top = 15, window?: { from: number; to: number }): string {
  const timeOf = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    at += delta;
    if (window && (at < window.from || at > window.to)) return;
    timeOf.set(id, (timeOf.get(id) ?? 0) + delta);
  });
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const time = timeOf.get(node.id) ?? 0;
    if (node.callFrame.functionName === "(idle)") continue;
    total += time;
    const place = placeOf(node.callFrame.url);
    const name = `${node.callFrame.functionName || "(anonymous)"} ${place}:${node.callFrame.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + time);
    byPlace.set(place, (byPlace.get(place) ?? 0) + time);
  }
  const lines = (title: string, entries: Map<string, number>) => [
    title,
    ...[...entries]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, time]) => `  ${((100 * time) / total).toFixed(1).padStart(5)}%  ${name}`),
  ];
  return [
    ...lines(`gateway CPU profile, ${(total / 1000).toFixed(0)} ms busy; by function (self):`, byFunction),
    ...lines("by package or file:", byPlace),
  ].join("\n");
}
