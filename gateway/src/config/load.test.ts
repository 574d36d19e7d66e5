import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { adminSecretProblem } from "./admin-secret.js";
import { ConfigError, loadConfigFile, parseConfig, readAdminSecret } from "./load.js";

const minimal = {
  lnd: { socket: "127.0.0.1:10009", cert: "Y2VydA==", macaroon: "0201" },
  store: { path: ":memory:" },
  services: [
    {
      name: "llm",
      match: { pathPrefix: "/v1/" },
      upstream: "http://127.0.0.1:8081",
      price: { sats: 10 },
    },
  ],
};

describe("gateway config", () => {
  it("fills defaults for a minimal config", () => {
    const config = parseConfig(minimal);
    expect(config.listen).toEqual({ host: "127.0.0.1", port: 8080, insecure: false, requireTls: false });
    expect(config.macaroonLocation).toBe("lsat");
    expect(config.proxy.forwardCredential).toBe(false);
    expect(config.limits.challengeBurst).toBe(10);
    expect(config.services[0]?.tokenLifetimeSeconds).toBe(86_400);
    expect(config.lnd.invoicePool.size).toBe(0);
    expect(config.workers).toBe(1);
    expect(parseConfig({ ...minimal, workers: "auto" }).workers).toBe("auto");
  });

  it("names the bad field, the value it got and what it expected", () => {
    const bad = { ...minimal, services: [{ ...minimal.services[0], price: { sats: -5 } }] };
    expect(() => parseConfig(bad)).toThrow(ConfigError);
    expect(() => parseConfig(bad)).toThrow(/services\.0\.price\.sats: Too small: expected number to be >0 \(got -5\)/);
  });

  it.each([
    ["an unknown field", { ...minimal, lsitne: {} }, /Unrecognized key: "lsitne"/],
    ["a socket without a port", { ...minimal, lnd: { ...minimal.lnd, socket: "localhost" } }, /lnd\.socket: host:port/],
    [
      "both an inline cert and a cert path",
      { ...minimal, lnd: { ...minimal.lnd, certPath: "/tmp/tls.cert" } },
      /set exactly one of cert and certPath/,
    ],
    [
      "an upstream that is not http(s)",
      { ...minimal, services: [{ ...minimal.services[0], upstream: "ftp://x" }] },
      /services\.0\.upstream/,
    ],
    [
      "an invoice pool whose invoices could age past half their expiry",
      {
        ...minimal,
        lnd: { ...minimal.lnd, invoicePool: { size: 4, maxAgeSeconds: 301 } },
      },
      /lnd\.invoicePool\.maxAgeSeconds: 301 s is more than half of service "llm"'s invoiceExpirySeconds \(600\)/,
    ],
    ["no workers", { ...minimal, workers: 0 }, /workers/],
    [
      "a match without a path",
      { ...minimal, services: [{ ...minimal.services[0], match: { methods: ["GET"] } }] },
      /match needs pathPrefix or pathRegex/,
    ],
    [
      "an invalid regex",
      { ...minimal, services: [{ ...minimal.services[0], match: { pathRegex: "(" } }] },
      /a valid regular expression/,
    ],
    [
      "a capability rule naming a capability the service does not grant",
      {
        ...minimal,
        services: [
          {
            ...minimal.services[0],
            capabilities: ["chat"],
            capabilityRules: [{ pathPrefix: "/v1/x", capability: "admin" }],
          },
        ],
      },
      /"admin" is not among this service's capabilities \[chat\]/,
    ],
    [
      "duplicate service names",
      { ...minimal, services: [minimal.services[0], minimal.services[0]] },
      /duplicate service "llm"/,
    ],
    ["no services", { ...minimal, services: [] }, /services/],
  ])("rejects %s", (_what, raw, message) => {
    expect(() => parseConfig(raw)).toThrow(message);
  });

  it("reads YAML and resolves file paths against the config's folder", () => {
    const dir = mkdtempSync(join(tmpdir(), "gw-config-"));
    const file = join(dir, "gateway.yaml");
    writeFileSync(
      file,
      `lnd:\n  socket: 127.0.0.1:10009\n  certPath: creds/tls.cert\n  macaroonPath: creds/invoice.macaroon\n` +
        `store:\n  path: data/gateway.sqlite\nservices:\n  - name: llm\n    match: { pathPrefix: /v1/ }\n` +
        `    upstream: http://127.0.0.1:8081\n    price: { sats: 3 }\n`,
    );
    const config = loadConfigFile(file);
    expect(config.lnd.certPath).toBe(join(dir, "creds/tls.cert"));
    expect(config.store.path).toBe(join(dir, "data/gateway.sqlite"));
  });

  it("takes $NAME references and their defaults from the environment, and names a missing variable", () => {
    const dir = mkdtempSync(join(tmpdir(), "gw-config-"));
    const file = join(dir, "gateway.yaml");
    writeFileSync(
      file,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's own ${NAME} syntax, not a template
      "lnd:\n  socket: ${LND_SOCKET}\n  cert: ${LND_CERT:-Y2VydA==}\n  macaroon: ${LND_MACAROON}\n" +
        "store: { path: ':memory:' }\nservices:\n  - name: llm\n    match: { pathPrefix: /v1/ }\n" +
        "    upstream: http://127.0.0.1:8081\n    price: { sats: 3 }\n",
    );
    const config = loadConfigFile(file, { LND_SOCKET: "10.0.0.1:10009", LND_MACAROON: "0201ab" });
    expect(config.lnd).toMatchObject({ socket: "10.0.0.1:10009", cert: "Y2VydA==", macaroon: "0201ab" });
    expect(() => loadConfigFile(file, { LND_SOCKET: "x:1" })).toThrow(
      "lnd.macaroon: environment variable LND_MACAROON is not set and has no default",
    );
  });

  it("loads the sample config shipped in the repo", () => {
    const sample = join(import.meta.dirname, "..", "..", "config", "gateway.sample.yaml");
    const env = { L402_LND_CERT_PATH: "/x/tls.cert", L402_LND_MACAROON_PATH: "/x/invoice.macaroon" };
    // The admin secret has no default: the sample cannot start the admin API with a published secret.
    expect(() => loadConfigFile(sample, env)).toThrow(
      "admin.secret: environment variable L402_ADMIN_SECRET is not set",
    );
    expect(() =>
      loadConfigFile(sample, { ...env, L402_ADMIN_SECRET: "change-me-to-a-long-random-value-0123456789" }),
    ).toThrow(/admin\.secret: an admin secret may not contain "changeme"/);
    const config = loadConfigFile(sample, { ...env, L402_ADMIN_SECRET: randomBytes(32).toString("base64url") });
    expect(config.lnd.socket).toBe("127.0.0.1:10009");
    expect(config.services.map((s) => s.name)).toEqual(["llm"]);
  });

  it("loads the non-LLM example in examples/", () => {
    const example = join(import.meta.dirname, "..", "..", "..", "examples", "weather-api.gateway.yaml");
    const env = {
      L402_LND_SOCKET: "127.0.0.1:10009",
      L402_LND_CERT_PATH: "/x/tls.cert",
      L402_LND_MACAROON_PATH: "/x/m",
    };
    const config = loadConfigFile(example, env);
    expect(config.services[0]).toMatchObject({ name: "weather", price: { sats: 2 }, healthPath: "/status" });
  });

  it("reports unreadable files and invalid YAML with the path", () => {
    expect(() => loadConfigFile("/nonexistent/gateway.yaml")).toThrow(
      /Cannot read config file \/nonexistent\/gateway.yaml/,
    );
    const dir = mkdtempSync(join(tmpdir(), "gw-config-"));
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "services: [\n");
    expect(() => loadConfigFile(file)).toThrow(`${file} is not valid YAML`);
  });

  describe("the admin secret", () => {
    const withSecret = (secret: string) => ({ ...minimal, admin: { port: 0, secret } });
    const published = [
      "change-me-to-a-long-random-secret-0123456789",
      "CHANGEME_CHANGEME_CHANGEME_CHANGEME_xyz",
      "replace-with-your-own-value-please-Qz8r",
      "example-admin-token-for-the-docs-Qz8r1p",
      "placeholder-placeholder-placeholder-Qz8",
      "test-admin-secret-0123456789abcdef0123",
      "fuzz-admin-secret-0123456789abcdef0123456789",
      "replica-admin-secret-0123456789abcdef",
    ];
    const weak = [
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "abababababababababababababababababababab",
      "0123456789012345678901234567890123456789",
      "Qz8r1pXk-abcdefgh-Mv3t7wLn-Hy6c2jRd-ss9",
      "Qz8r1pXk-987654-Mv3t7wLn-Hy6c2jRd-Pq5s9",
      "Qz8r1pXk-zzzzzzz-Mv3t7wLn-Hy6c2jRd-Ps9x",
      "short-Qz8r1pXk",
    ];

    it.each([...published, ...weak])("refuses %s in admin.secret, naming the field and never echoing it", (secret) => {
      expect(adminSecretProblem(secret)).toBeDefined();
      let message = "";
      try {
        parseConfig(withSecret(secret));
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        message = error.message;
      }
      expect(message).toMatch(/^Invalid config:\n {2}admin\.secret: an admin secret /);
      expect(message).not.toContain(secret);
    });

    it("accepts random secrets as operators make them", () => {
      for (let i = 0; i < 200; i++) {
        for (const secret of [randomBytes(32).toString("base64"), randomBytes(32).toString("base64url")]) {
          expect(adminSecretProblem(secret)).toBeUndefined();
          expect(parseConfig(withSecret(secret)).admin?.secret).toBe(secret);
        }
      }
      expect(adminSecretProblem("Qz8r1pXk-Mv3t7wLn-Hy6c2jRd-Pq5s9Ab4")).toBeUndefined();
    });

    it("holds a secretPath file to the same rule, naming admin.secretPath", () => {
      const dir = mkdtempSync(join(tmpdir(), "gw-secret-"));
      const good = join(dir, "good");
      const secret = randomBytes(32).toString("base64url");
      writeFileSync(good, `${secret}\n`);
      expect(readAdminSecret({ secretPath: good })).toBe(secret);
      const bad = join(dir, "bad");
      writeFileSync(bad, "change-me-to-a-long-random-secret-0123456789\n");
      expect(() => readAdminSecret({ secretPath: bad })).toThrow(
        `admin.secretPath: the secret in ${bad} is refused: an admin secret may not contain "changeme"`,
      );
      expect(() => readAdminSecret({ secretPath: join(dir, "missing") })).toThrow(/^admin\.secretPath: cannot read/);
      expect(() => readAdminSecret({ secret: "0123456789abcdef0123456789abcdef" })).toThrow(/^admin\.secret: /);
    });
  });
});
