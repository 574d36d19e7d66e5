import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunningGateway } from "@l402-gateway/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type TestUpstream } from "../support/upstream.js";
import { HostileServer } from "./hostile-server.js";
import {
  added,
  bobCliEnv,
  bobPaymentHashes,
  LLM_PRICE_SATS,
  runCli as l402,
  network,
  startTestGateway,
  tempStorePath,
} from "./support.js";

describe("the l402 CLI against the real gateway", () => {
  let upstream: TestUpstream;
  let gateway: RunningGateway;
  let env: Record<string, string>;
  let storePath: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    gateway = await startTestGateway(upstream.url);
    storePath = tempStorePath();
    // The macaroon as a file, the cert as hex: the CLI takes paths, base64 or hex.
    const macaroonFile = join(storePath, "..", "bob-admin.macaroon");
    writeFileSync(macaroonFile, Buffer.from(network.nodes.bob.adminMacaroon, "base64"), { mode: 0o600 });
    env = {
      L402_STORE: storePath,
      L402_LND_SOCKET: network.nodes.bob.socket,
      L402_LND_CERT: Buffer.from(network.nodes.bob.cert, "base64").toString("hex"),
      L402_LND_MACAROON: macaroonFile,
    };
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("bad usage exits 2 with a message on stderr and nothing on stdout", async () => {
    for (const args of [["get"], ["get", "not a url"], ["post", "http://x/", "--max-cost", "lots"], ["fly"], []]) {
      const result = await l402(args, env);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toMatch(/^l402: .+\nRun 'l402 --help' for usage\.\n$/);
    }
    const help = await l402(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("exit codes:");
  });

  it("--dry-run prints the price on stdout and pays nothing", async () => {
    const before = await bobPaymentHashes();
    const result = await l402(["get", `${gateway.url}/v1/echo`, "--dry-run"], env);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ amountSats: LLM_PRICE_SATS, service: "llm" });
    expect(result.stderr).toContain("dry run: would pay 50 sats");
    expect(added(before, await bobPaymentHashes())).toEqual([]);
  });

  it("over the cap exits 3 and pays nothing", async () => {
    const before = await bobPaymentHashes();
    const result = await l402(["get", `${gateway.url}/v1/echo`, "--max-cost", "20"], env);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("over_cap");
    expect(added(before, await bobPaymentHashes())).toEqual([]);
  });

  it("pays, prints the body on stdout and the payment on stderr, then reuses the token", async () => {
    const before = await bobPaymentHashes();
    const paid = await l402(["post", `${gateway.url}/v1/echo`, "-d", "hello from the cli", "-H", "X-Test: yes"], env);
    expect(paid.code, paid.stderr).toBe(0);
    const echoed = JSON.parse(paid.stdout) as { body: string; headers: Record<string, string> };
    expect(echoed.body).toBe("hello from the cli");
    expect(echoed.headers["x-test"]).toBe("yes");
    expect(paid.stderr).toMatch(/l402: paid 50 sats, fee \d+ sats, hash [0-9a-f]{64}/);
    expect(paid.stdout).not.toContain("l402:");
    expect(statSync(storePath).mode & 0o777).toBe(0o600);

    const again = await l402(["get", `${gateway.url}/v1/echo`, "-q"], env);
    expect(again.code).toBe(0);
    expect(again.stderr).toBe("");
    expect(JSON.parse(again.stdout)).toMatchObject({ method: "GET" });

    const payments = added(before, await bobPaymentHashes());
    expect(payments).toHaveLength(1);
    const receipts = JSON.parse((await l402(["receipts"], env)).stdout) as { payment_hash: string; status: string }[];
    expect(receipts).toMatchObject([{ payment_hash: payments[0], status: "succeeded", amount_sats: LLM_PRICE_SATS }]);
    const tokens = JSON.parse((await l402(["tokens", "list"], env)).stdout) as { service: string }[];
    expect(tokens).toMatchObject([{ service: "llm", origin: gateway.url }]);
    expect(JSON.stringify(tokens)).not.toContain("preimage");
    const budget = JSON.parse((await l402(["budget"], env)).stdout) as { spent: { totalSats: number } };
    expect(budget.spent.totalSats).toBeGreaterThanOrEqual(LLM_PRICE_SATS);
  });

  it("a saved budget refuses the next payment with exit 3; an HTTP error exits 5", async () => {
    expect((await l402(["tokens", "rm", gateway.url], env)).code).toBe(0);
    expect((await l402(["budget", "set", "--total", "60"], env)).code).toBe(0);
    const before = await bobPaymentHashes();
    const refused = await l402(["get", `${gateway.url}/v1/echo`], env);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain("budget_exceeded");
    expect(added(before, await bobPaymentHashes())).toEqual([]);

    const missing = await l402(["get", `${gateway.url}/nowhere`], env);
    expect(missing.code).toBe(5);
    expect(JSON.parse(missing.stdout)).toMatchObject({ code: "not_found" });
  });
});

describe("the l402 CLI against a server that is slow after payment", () => {
  let slow: HostileServer;
  const held: (() => void)[] = [];

  beforeAll(async () => {
    slow = await HostileServer.start();
  });

  afterAll(async () => {
    for (const release of held) release();
    await slow?.close();
  });

  /** Holds the paid requests `hold` picks (0 is the first) until the tests end; the others echo the credential. */
  function holding(hold: (paidRequest: number) => boolean): void {
    let paidRequests = 0;
    slow.behaviour = async (request, res, server) => {
      if (!server.paidService(request)) return server.challenge(res, { service: "slow", sats: 2 });
      if (hold(paidRequests++)) return new Promise<void>((release) => held.push(release));
      res.writeHead(200, { "x-echo": request.authorization ?? "" }).end(`served; you sent ${request.authorization}`);
    };
  }

  it("sends the paid request again when its answer is lost past --headers-timeout, and prints the answer", async () => {
    holding((paidRequest) => paidRequest === 0);
    const before = await bobPaymentHashes();
    const result = await l402(["get", `${slow.url}/a`, "-i", "--headers-timeout", "5"], bobCliEnv(tempStorePath()));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/answer to the paid request was lost \(request_timeout\); sending it again/);
    // The server echoed the credential in the body and a header: neither is printed.
    expect(result.stdout).toBe("served; you sent [redacted]");
    expect(result.stderr).toContain("x-echo: [redacted]");
    const authorization = slow.seen.at(-1)?.authorization ?? "";
    for (const secret of authorization.slice(5).split(":")) {
      expect(result.stdout + result.stderr).not.toContain(secret);
    }
    expect(added(before, await bobPaymentHashes())).toHaveLength(1);
  });

  it("a paid request never answered: says what was paid and how to resume; running it again pays nothing", async () => {
    holding(() => true);
    const env = bobCliEnv(tempStorePath());
    const before = await bobPaymentHashes();
    const lost = await l402(["get", `${slow.url}/b`, "--headers-timeout", "5"], env);
    expect(lost.code).toBe(5);
    const [paid] = added(before, await bobPaymentHashes());
    expect(lost.stderr).toContain(`paid_not_served: ${slow.url} was paid 2 sats (slow (L402), hash ${paid})`);
    expect(lost.stderr).toMatch(/The token is kept: calling again \(the same l402 command, or fetch\) reuses it/);
    holding(() => false);
    const resumed = await l402(["get", `${slow.url}/b`], env);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toBe("served; you sent [redacted]");
    expect(added(before, await bobPaymentHashes())).toEqual([paid]);
    expect(JSON.parse((await l402(["refusals"], env)).stdout)).toEqual([]);
  });
});
