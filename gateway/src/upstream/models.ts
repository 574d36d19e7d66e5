import { z } from "zod";
import { profileOf, type UpstreamKind } from "./kinds.js";
import { upstreamUrl } from "./url.js";

const openAiModelsSchema = z.looseObject({ data: z.array(z.looseObject({ id: z.string() })) });
const ollamaTagsSchema = z.looseObject({ models: z.array(z.looseObject({ name: z.string() })) });

/** How long a model list is reused before the upstream is asked again, and how long a failed read waits. */
const FRESH_MS = 30_000;
const RETRY_MS = 2_000;

/** The model ids an upstream of `kind` answers to, from its own list (`/v1/models`, or Ollama's `/api/tags`). */
export async function readModelIds(upstream: string, kind: UpstreamKind, timeoutMs: number): Promise<string[]> {
  const { path, shape } = profileOf(kind).models;
  const response = await fetch(upstreamUrl(upstream, path), { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
  const body: unknown = await response.json();
  const ids =
    shape === "ollama-tags"
      ? ollamaTagsSchema.parse(body).models.map((m) => m.name)
      : openAiModelsSchema.parse(body).data.map((m) => m.id);
  return [...new Set(ids)].sort();
}

/** Whether `model` names one of `ids` as the kind resolves names (Ollama reads a name without a tag as `:latest`). */
export function namesModel(kind: UpstreamKind, ids: readonly string[], model: string): boolean {
  if (ids.includes(model)) return true;
  return kind === "ollama" && !model.includes(":") && ids.includes(`${model}:latest`);
}

interface Entry {
  ids: readonly string[] | undefined;
  readAt: number;
  reading: Promise<void> | undefined;
}

export interface ModelSource {
  /** The upstream to ask (a live one of the service's pool). */
  upstream(service: string): string | undefined;
  kind(service: string): UpstreamKind;
}

/**
 * The model ids each service's upstream serves, read from the upstream itself and kept for FRESH_MS, so that price
 * rules, the 402, the quote and the manifest name models as the upstream knows them. A service whose upstream has
 * not answered has no list (undefined): nothing is refused or listed by a guess.
 */
export class ModelCatalogs {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly source: ModelSource,
    private readonly timeoutMs = 2_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The last list read, without asking again. */
  cached(service: string): readonly string[] | undefined {
    return this.entries.get(service)?.ids;
  }

  /** The list, read again first when it is stale (concurrent callers share one read). */
  async ids(service: string): Promise<readonly string[] | undefined> {
    let entry = this.entries.get(service);
    if (!entry) {
      entry = { ids: undefined, readAt: Number.NEGATIVE_INFINITY, reading: undefined };
      this.entries.set(service, entry);
    }
    const age = this.now() - entry.readAt;
    if (age >= (entry.ids ? FRESH_MS : RETRY_MS)) {
      entry.reading ??= this.read(service, entry);
      await entry.reading;
    }
    return entry.ids;
  }

  private async read(service: string, entry: Entry): Promise<void> {
    try {
      const upstream = this.source.upstream(service);
      if (upstream !== undefined) entry.ids = await readModelIds(upstream, this.source.kind(service), this.timeoutMs);
    } catch {
      // Keep the last list read (the upstream may be restarting); try again after RETRY_MS.
    } finally {
      entry.readAt = this.now();
      entry.reading = undefined;
    }
  }
}
