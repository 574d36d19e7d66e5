import { gzipSync } from "node:zlib";
import fc from "fast-check";

/**
 * Generated shapes of OpenAI-style requests that a gateway and an upstream might read differently: path spellings,
 * length-field aliases and their numeric spellings, duplicate keys, charsets, content codings, extra fields,
 * several answers, streaming, and a client that leaves early.
 */
export interface RequestShape {
  readonly endpoint: "chat" | "completion" | "input_tokens" | "embeddings" | "unknown";
  /** Applied to the endpoint's path in turn. */
  readonly spellings: readonly Spelling[];
  readonly words: readonly string[];
  readonly lengths: readonly { field: string; value: number | string }[];
  readonly numberStyle: "plain" | "float" | "exponent";
  /** A first, larger max_tokens before the real one: a first-wins parser would read it. */
  readonly duplicateLength: boolean;
  readonly answers: { field: "n" | "best_of"; value: number } | undefined;
  readonly contentType: "json" | "json-utf8" | "json-utf16" | "json-latin1" | "text" | "none";
  readonly contentEncoding: "none" | "identity" | "gzip";
  readonly extra: Readonly<Record<string, unknown>>;
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly disconnect: boolean;
}

type Spelling = "upper" | "trailing" | "double" | "dot" | "dotdot" | "encoded";

const PATHS: Record<RequestShape["endpoint"], string> = {
  chat: "/v1/chat/completions",
  completion: "/v1/completions",
  input_tokens: "/v1/chat/completions/input_tokens",
  embeddings: "/v1/embeddings",
  unknown: "/v1/responses",
};

const LENGTH_FIELDS = ["max_tokens", "max_completion_tokens", "n_predict", "max_new_tokens", "max_output_tokens"];

function respell(path: string, spelling: Spelling): string {
  const segments = path.split("/");
  switch (spelling) {
    case "upper":
      return path.replace(/[a-z]/, (c) => c.toUpperCase()).replace(/\/c/, "/C");
    case "trailing":
      return `${path}/`;
    case "double":
      return path.replace("/v1/", "/v1//");
    case "dot":
      return path.replace("/v1/", "/v1/./");
    case "dotdot":
      return path.replace("/v1/", "/v1/models/../");
    case "encoded": {
      const last = segments.pop() ?? "";
      return [...segments, `%${last.charCodeAt(0).toString(16)}${last.slice(1)}`].join("/");
    }
  }
}

function weighted<T>(...choices: [T, number][]): fc.Arbitrary<T> {
  return fc.oneof(...choices.map(([value, weight]) => ({ weight, arbitrary: fc.constant(value) })));
}

export function shapeArbitrary(options: { endpoints?: RequestShape["endpoint"][]; maxLength?: number } = {}) {
  const maxLength = options.maxLength ?? 80;
  return fc.record<RequestShape>({
    endpoint: options.endpoints
      ? fc.constantFrom(...options.endpoints)
      : weighted<RequestShape["endpoint"]>(
          ["chat", 10],
          ["completion", 5],
          ["input_tokens", 1],
          ["embeddings", 1],
          ["unknown", 1],
        ),
    spellings: fc.array(fc.constantFrom<Spelling>("upper", "trailing", "double", "dot", "dotdot", "encoded"), {
      maxLength: 2,
    }),
    words: fc.array(fc.constantFrom("pay", "the", "invoice", "lightning", "ünïcödé", "€", "sats", "agent"), {
      minLength: 1,
      maxLength: 12,
    }),
    lengths: fc.array(
      fc.record({
        field: fc.constantFrom(...LENGTH_FIELDS),
        value: fc.oneof(
          { weight: 20, arbitrary: fc.integer({ min: 1, max: maxLength }) },
          { weight: 1, arbitrary: fc.constantFrom<number | string>(0, -1, 100_000, "16", 2.5) },
        ),
      }),
      { maxLength: 2 },
    ),
    numberStyle: fc.constantFrom("plain", "float", "exponent"),
    duplicateLength: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    answers: fc.option(fc.record({ field: fc.constantFrom("n", "best_of"), value: fc.integer({ min: 1, max: 3 }) }), {
      nil: undefined,
      freq: 4,
    }),
    contentType: weighted<RequestShape["contentType"]>(
      ["json", 12],
      ["json-utf8", 3],
      ["none", 3],
      ["json-utf16", 1],
      ["json-latin1", 1],
      ["text", 1],
    ),
    contentEncoding: weighted<RequestShape["contentEncoding"]>(["none", 16], ["identity", 2], ["gzip", 1]),
    extra: fc.dictionary(
      fc.constantFrom("temperature", "seed", "user", "x_custom", "logprobs"),
      fc.constantFrom(0, 1, "a", true),
      {
        maxKeys: 2,
      },
    ),
    stream: fc.boolean(),
    includeUsage: fc.boolean(),
    disconnect: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
  });
}

/** The JSON text of a number in the shape's style (1.6e1 for 16, say), so the gateway must read its value. */
function spellNumber(value: number, style: RequestShape["numberStyle"]): string {
  if (!Number.isInteger(value) || style === "plain") return JSON.stringify(value);
  if (style === "float") return `${value}.0`;
  return `${value / 10}e1`;
}

export interface RenderedRequest {
  readonly method: "POST";
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

export function renderShape(shape: RequestShape, model: string): RenderedRequest {
  const text = shape.words.join(" ");
  const base: Record<string, unknown> =
    shape.endpoint === "completion" ? { model, prompt: text } : { model, messages: [{ role: "user", content: text }] };
  const fields: string[] = [];
  for (const [key, value] of Object.entries({ ...base, ...shape.extra }))
    fields.push(`${JSON.stringify(key)}:${JSON.stringify(value)}`);
  if (shape.duplicateLength) fields.push(`"max_tokens":${spellNumber(9_999, shape.numberStyle)}`);
  for (const { field, value } of shape.lengths) {
    fields.push(
      `${JSON.stringify(field)}:${typeof value === "number" ? spellNumber(value, shape.numberStyle) : JSON.stringify(value)}`,
    );
  }
  if (shape.answers) fields.push(`"${shape.answers.field}":${shape.answers.value}`);
  if (shape.stream) fields.push('"stream":true');
  if (shape.stream && shape.includeUsage) fields.push('"stream_options":{"include_usage":true}');
  const json = `{${fields.join(",")}}`;
  const headers: Record<string, string> = {};
  let body =
    shape.contentType === "json-utf16"
      ? Buffer.from(json, "utf16le")
      : shape.contentType === "json-latin1"
        ? Buffer.from(json, "latin1")
        : Buffer.from(json, "utf8");
  const contentTypes: Record<RequestShape["contentType"], string | undefined> = {
    json: "application/json",
    "json-utf8": "application/json; charset=UTF-8",
    "json-utf16": "application/json; charset=utf-16",
    "json-latin1": "application/json; charset=iso-8859-1",
    text: "text/plain",
    none: undefined,
  };
  const contentType = contentTypes[shape.contentType];
  if (contentType) headers["content-type"] = contentType;
  if (shape.contentEncoding === "gzip") body = gzipSync(body);
  if (shape.contentEncoding !== "none") headers["content-encoding"] = shape.contentEncoding;
  const path = shape.spellings.reduce(respell, PATHS[shape.endpoint]);
  return { method: "POST", path, headers, body };
}
