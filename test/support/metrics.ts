/** The sum of every series on a Prometheus endpoint whose line starts with `prefix` (a name, or a name and labels). */
export async function scrapeSum(metricsUrl: string, prefix: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith(prefix))
    .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
}
