import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { z } from "zod";

const entrySchema = z.object({
  at: z.string(),
  who: z.string(),
  service: z.string(),
  rule: z.number().int(),
  old: z.unknown(),
  new: z.unknown(),
  persisted: z.string().nullable(),
});

/** One applied price change: who, when, which rule, before and after, and where it was written. */
export type AuditEntry = z.infer<typeof entrySchema>;

/**
 * The console's price-change log: JSON lines appended to a file (mode 0600) that survives restarts; in memory only when
 * the gateway runs without a config file. Newest first when read.
 */
export class AuditLog {
  private readonly memory: AuditEntry[] = [];

  constructor(readonly path: string | undefined) {}

  append(entry: AuditEntry): void {
    if (this.path === undefined) this.memory.push(entry);
    else appendFileSync(this.path, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  }

  /** The latest `limit` entries, newest first; a line that does not parse is skipped. */
  recent(limit = 50): AuditEntry[] {
    if (this.path === undefined) return this.memory.slice(-limit).reverse();
    if (!existsSync(this.path)) return [];
    const entries: AuditEntry[] = [];
    for (const line of readFileSync(this.path, "utf8").split("\n")) {
      if (line.trim() === "") continue;
      try {
        const parsed = entrySchema.safeParse(JSON.parse(line));
        if (parsed.success) entries.push(parsed.data);
      } catch {
        // A torn last line (a crash mid-append) is skipped, not fatal.
      }
    }
    return entries.slice(-limit).reverse();
  }
}
