import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { aliceLnd, bobClient, LLM_PRICE_SATS } from "./agent-client/support.js";
import { testNetwork } from "./regtest/context.js";
import { gatewayLndConfig } from "./regtest/network-file.js";
import { REPO_ROOT } from "./regtest/paths.js";
import { checkAccounting } from "./support/accounting.js";
import { createTestCa, opensslMissing, type TestCa } from "./support/certificates.js";
import { type Supervised, supervise } from "./support/supervised.js";

const network = testNetwork();

describe.skipIf(opensslMissing())("the gateway prints no DEP0123 over TLS to IP addresses (regtest)", () => {
  let ca: TestCa;
  let upstream: Server;
  let gateway: Supervised;
  let url: string;
  const dir = mkdtempSync(join(tmpdir(), "gw-warnings-"));
  const storePath = join(dir, "gateway.sqlite");

  beforeAll(async () => {
    ca = createTestCa();
    const upstreamCert = ca.issue("upstream");
    upstream = createServer(
      { cert: readFileSync(upstreamCert.certPath), key: readFileSync(upstreamCert.keyPath) },
      (req, res) => {
        req.resume();
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ served: req.url }));
      },
    );
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    const address = upstream.address();
    if (address === null || typeof address === "string") throw new Error("no upstream port");
    const served = ca.issue("gateway");
    const configFile = join(dir, "gateway.yaml");
    // LND by IP (the regtest socket is 127.0.0.1:port, refunds too), the upstream by IP over TLS, served over TLS.
    writeFileSync(
      configFile,
      stringify({
        listen: { host: "127.0.0.1", port: 0, tls: { certPath: served.certPath, keyPath: served.keyPath } },
        operator: { port: 0 },
        lnd: { ...gatewayLndConfig(network.nodes.alice), refundMacaroon: network.nodes.alice.adminMacaroon },
        store: { path: storePath },
        log: { level: "info" },
        services: [
          {
            name: "llm",
            match: { pathPrefix: "/v1/" },
            upstream: `https://127.0.0.1:${address.port}`,
            price: { sats: LLM_PRICE_SATS },
          },
        ],
      }),
    );
    const child = spawn(process.execPath, [join(REPO_ROOT, "gateway", "dist", "cli.js"), "--config", configFile], {
      stdio: ["ignore", "pipe", "pipe"],
      // The upstream's private CA, trusted the way an operator would.
      env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.pemPath },
    });
    gateway = supervise(child);
    url = (await gateway.match(/"url":"(https:\/\/[^"]+)","operatorUrl"/))[1] ?? "";
  });

  afterAll(async () => {
    await gateway?.kill();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  it("serves a paid call through LND and a TLS upstream, both by IP, without the warning", async () => {
    const client = bobClient({ ca: ca.pem });
    const response = await client.fetch(`${url}/v1/echo`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ served: "/v1/echo" });
    expect(await client.receipts()).toMatchObject([{ status: "succeeded", amountSats: LLM_PRICE_SATS }]);
    // The warning, when printed, comes with the first TLS connection to LND: long before the paid call is served.
    expect(gateway.output()).not.toContain("DEP0123");
    expect(gateway.output()).not.toContain("DeprecationWarning");
  });

  it("keeps the accounting invariant", async () => {
    const verdict = await checkAccounting({ storePath, lnd: aliceLnd, quiescent: true });
    expect(verdict.violations).toEqual([]);
  });
});
