import { readFileSync } from "node:fs";
import { join } from "node:path";
import { configSchema } from "@l402-gateway/gateway";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { REPO_ROOT } from "./regtest/paths.js";

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  default?: unknown;
}

/** Every leaf key of the config schema, arrays of objects written `key[].child`, with its default. */
function schemaKeys(schema: JsonSchema, path = ""): Map<string, unknown> {
  const keys = new Map<string, unknown>();
  if (schema.type === "object" && schema.properties) {
    for (const [name, child] of Object.entries(schema.properties)) {
      for (const [key, value] of schemaKeys(child, path ? `${path}.${name}` : name)) keys.set(key, value);
    }
  } else if (schema.type === "array" && schema.items?.type === "object") {
    for (const [key, value] of schemaKeys(schema.items, `${path}[]`)) keys.set(key, value);
  } else {
    keys.set(path, schema.default);
  }
  return keys;
}

function documentedKeys(): Map<string, string> {
  const doc = readFileSync(join(REPO_ROOT, "docs", "configuration.md"), "utf8");
  const rows = doc.split("\n").filter((line) => /^\| `[^`]+` \|/.test(line));
  return new Map(
    rows.map((row) => {
      const cells = row.split("|").map((cell) => cell.trim());
      return [cells[1]?.replaceAll("`", "") ?? "", cells[3]?.replaceAll("`", "") ?? ""];
    }),
  );
}

describe("docs/configuration.md", () => {
  const schema = schemaKeys(z.toJSONSchema(configSchema, { io: "input" }) as JsonSchema);
  const documented = documentedKeys();

  it("documents every config key, and no key that does not exist", () => {
    expect([...documented.keys()].sort()).toEqual([...schema.keys()].sort());
  });

  it("states each default as the schema has it", () => {
    for (const [key, value] of schema) {
      const expected = value === undefined ? "" : Array.isArray(value) ? JSON.stringify(value) : String(value);
      expect(documented.get(key), key).toBe(expected);
    }
  });
});
