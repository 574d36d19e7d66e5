import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ConfigError, parseCli } from "./config.js";
import { startServer } from "./http/server.js";
import { defaultModelPath } from "./inference/default-model.js";
import { ModelNotFoundError, resolveModelPath } from "./inference/model.js";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

describe("CLI configuration", () => {
  it("parses every flag into one typed config", () => {
    const parsed = parseCli(
      [
        "--model",
        "/m.gguf",
        "--gpu",
        "false",
        "--parallel",
        "3",
        "--context-size",
        "2048",
        "--threads",
        "2",
        "--port",
        "0",
      ],
      {},
    );
    expect(parsed).toEqual({
      kind: "config",
      config: expect.objectContaining({
        model: "/m.gguf",
        gpu: "false",
        parallel: 3,
        contextSize: 2048,
        threads: 2,
        port: 0,
      }),
    });
  });

  it("defaults to the cached model, available cores and loopback on 8081, where the sample gateway config expects it", async () => {
    const parsed = parseCli([], {});
    if (parsed.kind !== "config") throw new Error("expected a config");
    expect(parsed.config.model).toBe(defaultModelPath());
    expect(parsed.config.host).toBe("127.0.0.1");
    expect(parsed.config.port).toBe(8081);
    const sample = await readFile(join(repoRoot, "gateway", "config", "gateway.sample.yaml"), "utf8");
    expect(sample).toContain(`upstream: http://127.0.0.1:${parsed.config.port}`);
    const gatewayPort = /^listen:\n(?:\s+#.*\n|\s+\w+:.*\n)*?\s+port: (\d+)/m.exec(sample)?.[1];
    expect(gatewayPort).toBe("8080");
    expect(Number(gatewayPort)).not.toBe(parsed.config.port);
    expect(parsed.config.threads).toBeGreaterThan(0);
  });

  it("reads environment variables, with flags taking precedence", () => {
    const parsed = parseCli(["--parallel", "2"], { L402_LLM_PARALLEL: "8", L402_LLM_PORT: "9999" });
    expect(parsed).toMatchObject({ kind: "config", config: { parallel: 2, port: 9999 } });
  });

  it("rejects bad values and unknown flags with a ConfigError", () => {
    expect(() => parseCli(["--gpu", "metal"], {})).toThrow(ConfigError);
    expect(() => parseCli(["--parallel", "0"], {})).toThrow(/parallel/);
    expect(() => parseCli(["--bogus"], {})).toThrow(ConfigError);
  });

  it("answers --help", () => {
    expect(parseCli(["--help"], {})).toEqual({ kind: "help" });
  });
});

describe("a missing default model", () => {
  it("fails with a message naming npm run model:fetch", async () => {
    const emptyCache = await mkdtemp(join(tmpdir(), "llm-backend-cache-"));
    const saved = process.env.L402_CACHE_DIR;
    process.env.L402_CACHE_DIR = emptyCache;
    try {
      await expect(resolveModelPath(defaultModelPath())).rejects.toThrow(/npm run model:fetch/);
      await expect(startServer({ port: 0, logLevel: "silent" })).rejects.toBeInstanceOf(ModelNotFoundError);
    } finally {
      if (saved === undefined) delete process.env.L402_CACHE_DIR;
      else process.env.L402_CACHE_DIR = saved;
      await rm(emptyCache, { recursive: true, force: true });
    }
  });
});
