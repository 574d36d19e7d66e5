import { copyFileSync } from "node:fs";
import { Writable } from "node:stream";
import pino from "pino";
import { Agent, fetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../gateway/src/config/load.js";
import { type RunningGateway, startGateway } from "../../gateway/src/server.js";
import {
  createTestCa,
  type IssuedCertificate,
  opensslMissing,
  replaceFile,
  servedFingerprint,
  type TestCa,
} from "../support/certificates.js";
import { KnownPreimageInvoices } from "../support/known-preimage-invoices.js";

const base = {
  operator: { port: 0 },
  lnd: { socket: "127.0.0.1:1", cert: "x", macaroon: "x" },
  store: { path: ":memory:" },
  services: [{ name: "api", match: { pathPrefix: "/v1/" }, upstream: "http://127.0.0.1:1", price: { sats: 5 } }],
};

describe("listen: plain HTTP only where it is safe", () => {
  it.each(["0.0.0.0", "::", "192.0.2.1", "gateway.example"])("refuses plain HTTP on %s without insecure", (host) => {
    expect(() => parseConfig({ ...base, listen: { host } })).toThrow(/listen\.insecure: plain HTTP on .* clear text/);
  });

  it.each(["127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost"])("allows plain HTTP on loopback %s", (host) => {
    expect(parseConfig({ ...base, listen: { host } }).listen.insecure).toBe(false);
  });

  it("allows plain HTTP on a public address when insecure is set, and refuses insecure together with tls", () => {
    expect(parseConfig({ ...base, listen: { host: "0.0.0.0", insecure: true } }).listen.host).toBe("0.0.0.0");
    const tls = { certPath: "/c.pem", keyPath: "/k.pem" };
    expect(() => parseConfig({ ...base, listen: { host: "0.0.0.0", insecure: true, tls } })).toThrow(
      /listen\.insecure: insecure \(plain HTTP\) contradicts tls/,
    );
    expect(parseConfig({ ...base, listen: { host: "0.0.0.0", tls } }).listen.tls).toEqual({
      ...tls,
      pollIntervalMs: 5_000,
    });
  });
});

describe("listen.requireTls", () => {
  it("refuses plain requests before any challenge, unless a trusted proxy says they came over https", async () => {
    const invoices = new KnownPreimageInvoices();
    const start = (trustProxy: string | boolean) =>
      startGateway(parseConfig({ ...base, trustProxy, listen: { port: 0, requireTls: true } }), {
        backend: invoices,
        log: pino({ level: "silent" }),
      });
    const behindProxy = await start("loopback");
    try {
      const plain = await fetch(`${behindProxy.url}/v1/x`);
      expect(plain.status).toBe(403);
      expect(await plain.json()).toMatchObject({ code: "tls_required" });
      expect(invoices.preimages.size).toBe(0);
      const forwarded = await fetch(`${behindProxy.url}/v1/x`, { headers: { "x-forwarded-proto": "https" } });
      expect(forwarded.status).toBe(402);
    } finally {
      await behindProxy.close();
    }
    // Without a trusted proxy the header is the client's own claim.
    const direct = await start(false);
    try {
      const claimed = await fetch(`${direct.url}/v1/x`, { headers: { "x-forwarded-proto": "https" } });
      expect(claimed.status).toBe(403);
      expect(invoices.preimages.size).toBe(1);
    } finally {
      await direct.close();
    }
  });
});

const missing = opensslMissing();

describe.skipIf(missing !== undefined)(`gateway over TLS${missing ? ` (skipped: ${missing})` : ""}`, () => {
  let ca: TestCa;
  let first: IssuedCertificate;
  let served: IssuedCertificate;
  let gateway: RunningGateway;
  let trusting: Agent;
  const logLines: string[] = [];

  beforeAll(async () => {
    ca = createTestCa();
    first = ca.issue("first");
    // The gateway watches these paths; the test rotates what they hold.
    served = { ...first, certPath: `${first.certPath}.served`, keyPath: `${first.keyPath}.served` };
    copyFileSync(first.certPath, served.certPath);
    copyFileSync(first.keyPath, served.keyPath);
    const log = pino(
      { level: "info" },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          logLines.push(chunk.toString());
          done();
        },
      }),
    );
    const tls = { certPath: served.certPath, keyPath: served.keyPath, pollIntervalMs: 50 };
    const config = parseConfig({ ...base, listen: { host: "127.0.0.1", port: 0, tls, requireTls: true } });
    gateway = await startGateway(config, { backend: new KnownPreimageInvoices(), log });
    trusting = new Agent({ connect: { ca: ca.pem } });
  });

  afterAll(async () => {
    await gateway?.close();
    await trusting?.close();
  });

  it("serves HTTPS with the configured certificate to a client that trusts the CA", async () => {
    expect(gateway.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const response = await fetch(`${gateway.url}/v1/x`, { dispatcher: trusting });
    expect(response.status).toBe(402);
    expect(response.headers.get("www-authenticate")).toMatch(/^LSAT macaroon=/);
    expect(await servedFingerprint(gateway.url, ca.pem)).toBe(first.fingerprint);
  });

  it("is refused by a client that does not trust the CA, and speaks no plain HTTP", async () => {
    const untrusted = await fetch(`${gateway.url}/v1/x`).catch((error: Error) => error);
    expect((untrusted as Error).cause).toMatchObject({ code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
    const plain = await fetch(`${gateway.url.replace("https:", "http:")}/v1/x`).catch((error: Error) => error);
    expect(plain).toBeInstanceOf(Error);
  });

  it("keeps the current pair when a new certificate comes without its key, and loads the pair once both are there", async () => {
    const second = ca.issue("second");
    replaceFile(second.certPath, served.certPath);
    await until(() => logLines.some((line) => line.includes("keeping the current pair")));
    expect(await servedFingerprint(gateway.url, ca.pem)).toBe(first.fingerprint);
    replaceFile(second.keyPath, served.keyPath);
    await until(() => logLines.some((line) => line.includes("TLS certificate reloaded")));
    expect(await servedFingerprint(gateway.url, ca.pem)).toBe(second.fingerprint);
    const response = await fetch(`${gateway.url}/v1/x`, {
      dispatcher: new Agent({ connect: { ca: ca.pem } }),
    });
    expect(response.status).toBe(402);
  });

  it("stops the start with the field named when a file is missing or the key does not match", async () => {
    const other = ca.issue("other");
    const start = (tls: { certPath: string; keyPath: string }) =>
      startGateway(parseConfig({ ...base, listen: { port: 0, tls } }), {
        backend: new KnownPreimageInvoices(),
        log: pino({ level: "silent" }),
      });
    await expect(start({ certPath: "/nonexistent/cert.pem", keyPath: other.keyPath })).rejects.toThrow(
      /listen\.tls\.certPath: cannot read \/nonexistent\/cert\.pem/,
    );
    await expect(start({ certPath: other.certPath, keyPath: first.keyPath })).rejects.toThrow(ConfigError);
    await expect(start({ certPath: other.certPath, keyPath: first.keyPath })).rejects.toThrow(
      /listen\.tls: the key in .* does not belong to the certificate/,
    );
    await expect(start({ certPath: other.certPath, keyPath: other.certPath })).rejects.toThrow(
      /listen\.tls\.keyPath: .* holds no PEM private key/,
    );
  });
});

/** Waits for a condition the gateway's poller makes true; the test's own timeout bounds it. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolvePromise) => setTimeout(resolvePromise, 20));
}
