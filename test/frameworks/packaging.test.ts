import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../regtest/paths.js";

const CLIENT = join(REPO_ROOT, "agent-client");
const FRAMEWORK_PACKAGES = [
  "@ai-sdk/openai-compatible",
  "@langchain/core",
  "@langchain/openai",
  "@openai/agents",
  "ai",
  "openai",
];

interface Manifest {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  exports: Record<string, { types: string; default: string }>;
}

const manifest = JSON.parse(readFileSync(join(CLIENT, "package.json"), "utf8")) as Manifest;

/** The bare specifiers (packages) that the built module `file` and the modules it imports relatively import. */
function packagesImportedFrom(file: string, seen = new Set<string>()): Set<string> {
  const packages = new Set<string>();
  if (seen.has(file)) return packages;
  seen.add(file);
  const source = readFileSync(file, "utf8");
  for (const [, specifier] of source.matchAll(
    /(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\(["']([^"']+)["']\)/g,
  )) {
    if (!specifier) continue;
    if (specifier.startsWith(".")) {
      for (const name of packagesImportedFrom(resolve(dirname(file), specifier), seen)) packages.add(name);
    } else {
      packages.add(
        specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : (specifier.split("/")[0] ?? ""),
      );
    }
  }
  return packages;
}

describe("the agent client's framework entry points cost nothing to those who do not use them", () => {
  it("declares each framework package as an optional peer and a pinned dev dependency, never a dependency", () => {
    for (const name of FRAMEWORK_PACKAGES) {
      expect(manifest.dependencies?.[name], name).toBeUndefined();
      expect(manifest.peerDependencies?.[name], name).toBeDefined();
      expect(manifest.peerDependenciesMeta?.[name]?.optional, name).toBe(true);
      expect(manifest.devDependencies?.[name], name).toMatch(/^\d+\.\d+\.\d+$/);
    }
  });

  it("offers one entry point per framework, next to the main one", () => {
    expect(Object.keys(manifest.exports).sort()).toEqual([".", "./ai-sdk", "./langchain", "./openai-agents"]);
  });

  it("loads no framework package from the main entry, and only its own framework's from each entry", () => {
    const imported = (entry: string) => {
      const target = manifest.exports[entry];
      if (!target) throw new Error(`no export ${entry}`);
      return [...packagesImportedFrom(join(CLIENT, target.default))].filter((name) =>
        FRAMEWORK_PACKAGES.includes(name),
      );
    };
    expect(imported(".")).toEqual([]);
    expect(imported("./langchain").sort()).toEqual(["@langchain/core", "@langchain/openai"]);
    expect(imported("./ai-sdk").sort()).toEqual(["@ai-sdk/openai-compatible", "ai"]);
    expect(imported("./openai-agents").sort()).toEqual(["@openai/agents", "openai"]);
  });
});
