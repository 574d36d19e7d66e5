import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfigFile } from "@l402-gateway/gateway";
import { parseCli } from "@l402-gateway/llm-backend";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { REPO_ROOT } from "./regtest/paths.js";

// No container engine runs here, so the Dockerfile and compose file are checked against the repo and the schemas.
const deployDir = join(REPO_ROOT, "deploy");
const dockerfile = readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8");

interface ComposeService {
  build?: { context: string; target: string };
  environment?: Record<string, string>;
  volumes?: string[];
}
const compose = parse(readFileSync(join(deployDir, "compose.yaml"), "utf8")) as {
  services: Record<string, ComposeService>;
};

describe("Dockerfile and compose file", () => {
  it("copies only paths that exist in the repo", () => {
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => (m[1] ?? "").split(" "));
    expect(sources.length).toBeGreaterThan(5);
    for (const source of sources) expect(existsSync(join(REPO_ROOT, source)), source).toBe(true);
  });

  it("builds targets the Dockerfile defines, health-checked and as a non-root user", () => {
    for (const service of Object.values(compose.services)) {
      if (service.build) expect(dockerfile).toMatch(new RegExp(`^FROM \\S+ AS ${service.build.target}$`, "m"));
    }
    expect(dockerfile.match(/^HEALTHCHECK /gm)?.length).toBe(2);
    expect(dockerfile).toMatch(/^USER l402$/m);
    expect(dockerfile).not.toMatch(/^FROM .*alpine/im);
  });

  it("mounts files that exist beside it", () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const hostPath = volume.split(":")[0] ?? "";
        if (hostPath === "./models") continue; // the operator's own models
        if (hostPath.startsWith(".")) expect(existsSync(join(deployDir, hostPath)), `${name}: ${hostPath}`).toBe(true);
      }
    }
  });

  it("gives the gateway an environment that makes its mounted config valid", () => {
    const gateway = compose.services.gateway;
    const env = gateway?.environment ?? {};
    const config = loadConfigFile(join(deployDir, "gateway.yaml"), env);
    expect(config.lnd).toMatchObject({ socket: "lnd:10009", certPath: "/lnd/tls.cert" });
    expect(config.services[0]?.upstream).toBe("http://llm-backend:8080");
    // Every variable the config reads is set by compose, and compose sets none the config ignores.
    const referenced = new Set(
      [...readFileSync(join(deployDir, "gateway.yaml"), "utf8").matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]),
    );
    const provided = Object.keys(env).filter((name) => name !== "L402_GATEWAY_CONFIG");
    expect([...referenced].sort()).toEqual(provided.sort());
    expect(dockerfile).toContain("L402_GATEWAY_CONFIG");
  });

  it("gives the backend only environment variables its config knows, and they parse", () => {
    const env = compose.services["llm-backend"]?.environment ?? {};
    const known = new Set(
      [
        ...readFileSync(join(REPO_ROOT, "llm-backend", "src", "config.ts"), "utf8").matchAll(/"(L402_LLM_[A-Z_]+)"/g),
      ].map((m) => m[1]),
    );
    for (const name of Object.keys(env)) expect(known.has(name), name).toBe(true);
    const parsed = parseCli([], env);
    expect(parsed.kind).toBe("config");
    if (parsed.kind === "config") expect(parsed.config).toMatchObject({ parallel: 4, contextSize: 4096, gpu: "auto" });
  });
});
