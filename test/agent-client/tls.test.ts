import { copyFileSync } from "node:fs";
import { createL402Client, L402ClientError } from "@l402-gateway/agent-client";
import type { RunningGateway } from "@l402-gateway/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createTestCa,
  type IssuedCertificate,
  opensslMissing,
  replaceFile,
  servedFingerprint,
  type TestCa,
} from "../support/certificates.js";
import { startUpstream, type TestUpstream } from "../support/upstream.js";
import {
  added,
  aliceSettledHashes,
  bobCliEnv,
  bobPaymentHashes,
  bobWallet,
  codeOf,
  LLM_PRICE_SATS,
  runCli,
  startTestGateway,
  tempStorePath,
} from "./support.js";

const missing = opensslMissing();

describe.skipIf(missing !== undefined)(`paying over TLS on regtest${missing ? ` (skipped: ${missing})` : ""}`, () => {
  let ca: TestCa;
  let first: IssuedCertificate;
  /** The paths the gateway watches; the test rotates what they hold. */
  let served: { certPath: string; keyPath: string };
  let upstream: TestUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    ca = createTestCa();
    first = ca.issue("first");
    served = { certPath: `${first.certPath}.served`, keyPath: `${first.keyPath}.served` };
    copyFileSync(first.certPath, served.certPath);
    copyFileSync(first.keyPath, served.keyPath);
    upstream = await startUpstream();
    gateway = await startTestGateway(upstream.url, {
      listen: { port: 0, tls: { ...served, pollIntervalMs: 100 } },
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("a client that trusts the private CA pays and is served over https; one that does not pays nothing", async () => {
    expect(gateway.url).toMatch(/^https:/);
    const before = await bobPaymentHashes();
    const settledBefore = await aliceSettledHashes();
    const untrusting = createL402Client({ wallet: bobWallet() });
    const refused = await untrusting.fetch(`${gateway.url}/v1/echo`).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(TypeError);
    expect((refused as TypeError).cause).toMatchObject({ code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
    expect(added(before, await bobPaymentHashes())).toEqual([]);

    // The CA as a file path here; the next test gives it as a PEM string.
    const client = createL402Client({ wallet: bobWallet(), ca: ca.pemPath });
    const response = await client.fetch(`${gateway.url}/v1/echo`, { method: "POST", body: "over tls" });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ method: "POST", body: "over tls" });
    const receipts = await client.receipts();
    expect(receipts).toMatchObject([{ status: "succeeded", amountSats: LLM_PRICE_SATS, service: "llm" }]);
    const paid = added(before, await bobPaymentHashes());
    expect(paid).toEqual([receipts[0]?.paymentHash]);
    expect(added(settledBefore, await aliceSettledHashes())).toEqual(paid);
  });

  it("the certificate rotates while a paid stream is open: new connections get the new one, the stream completes", async () => {
    const before = await bobPaymentHashes();
    const client = createL402Client({ wallet: bobWallet(), ca: ca.pem });
    const response = await client.fetch(`${gateway.url}/v1/stream`);
    expect(response.status).toBe(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value);
    expect(text).toContain('"chunk":1');

    const second = ca.issue("second");
    replaceFile(second.keyPath, served.keyPath);
    replaceFile(second.certPath, served.certPath);
    while ((await servedFingerprint(gateway.url, ca.pem)) !== second.fingerprint) {
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 50));
    }
    expect(second.fingerprint).not.toBe(first.fingerprint);

    upstream.release();
    upstream.release();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value);
    expect(text).toContain('"chunk":3');
    expect(text).toContain("data: [DONE]");
    // The token bought for the stream still serves; one payment in all.
    const again = await client.fetch(`${gateway.url}/v1/echo`);
    expect(again.status).toBe(200);
    await again.body?.cancel();
    expect(added(before, await bobPaymentHashes())).toHaveLength(1);
  });

  it("the CLI pays over https with --cacert, and fails without it", async () => {
    const storePath = tempStorePath();
    const without = await runCli(["get", `${gateway.url}/v1/echo`, "-q"], bobCliEnv(storePath));
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/certificate/);
    const paid = await runCli(["get", `${gateway.url}/v1/echo`, "-q", "--cacert", ca.pemPath], bobCliEnv(storePath));
    expect(paid).toMatchObject({ code: 0 });
    expect(JSON.parse(paid.stdout)).toMatchObject({ method: "GET", url: "/v1/echo" });
  });

  it("refuses to pay or send anything to plain HTTP on a network address, before any connection", async () => {
    const before = await bobPaymentHashes();
    const attempts: string[] = [];
    const client = createL402Client({
      wallet: bobWallet(),
      // Records instead of connecting: nothing may be sent to that address, whatever the client decides.
      fetch: async (request) => {
        attempts.push(request.url);
        throw new Error("the client tried to connect");
      },
    });
    expect(await codeOf(client.fetch("http://192.0.2.1/v1/echo", { method: "POST", body: "secret" }))).toBe(
      "insecure_origin",
    );
    expect(attempts).toEqual([]);
    expect(added(before, await bobPaymentHashes())).toEqual([]);
    const error = await client.fetch("http://192.0.2.1/").catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(L402ClientError);
    expect((error as L402ClientError).message).toMatch(/allowInsecure/);
  });

  it("the gateway refuses to start plain HTTP on 0.0.0.0 unless listen.insecure is set", () => {
    expect(() => startTestGateway(upstream.url, { listen: { host: "0.0.0.0", port: 0 } })).toThrow(
      /listen\.insecure: plain HTTP on 0\.0\.0\.0/,
    );
  });
});
