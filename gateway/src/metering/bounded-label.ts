/** Keeps a metric label's values to a bounded set: the first `limit` distinct values, then "other". */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(private readonly limit: number) {}

  value(raw: string | undefined): string {
    const value = raw === undefined || raw === "" ? "none" : raw.slice(0, 64);
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.limit) return "other";
    this.seen.add(value);
    return value;
  }
}
