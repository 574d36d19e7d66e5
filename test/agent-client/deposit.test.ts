import { describe, expect, it } from "vitest";
import { checkAccounting } from "../support/accounting.js";
import {
  added,
  aliceLnd,
  bobCliEnv,
  bobClient,
  bobPaymentHashes,
  runCli,
  tempStorePath,
  useRefundingGateway,
} from "./support.js";

const PER_CALL_MSAT = 2_000;

describe("a deposit for metered calls: paid once, used by the next calls, topped up, refunded by close (regtest)", () => {
  const running = useRefundingGateway((upstreamUrl) => [
    {
      name: "metered",
      match: { pathPrefix: "/v1/echo" },
      upstream: upstreamUrl,
      pricing: { rules: [{ perCallMsat: PER_CALL_MSAT }] },
    },
    {
      name: "streams",
      match: { pathPrefix: "/v1/stream" },
      upstream: upstreamUrl,
      pricing: { rules: [{ perCallMsat: PER_CALL_MSAT }] },
      schemes: ["payment-session"],
    },
    {
      name: "sessions",
      match: { pathPrefix: "/v1/session" },
      upstream: upstreamUrl,
      pricing: { rules: [{ perCallMsat: PER_CALL_MSAT }] },
      schemes: ["payment-session"],
    },
  ]);
  const storePath = running.storePath;
  const echoed = () => running.upstream.seen.filter((seen) => seen.url.startsWith("/v1/")).length;

  it("two metered CLI calls pay once; the third, after the balance ran out, says top-up; close refunds the rest", async () => {
    const env = bobCliEnv(tempStorePath());
    const call = (body: string) =>
      runCli(["post", `${running.gateway.url}/v1/echo`, "-d", body, "--deposit-calls", "2"], env);
    const before = await bobPaymentHashes();

    const first = await call("one");
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain("one");
    expect(first.stderr).toContain("a call costs up to 2 sats; asking to prepay 4 sats");
    expect(first.stderr).toMatch(/paid 4 sats, fee \d+ sats/);
    const afterFirst = added(before, await bobPaymentHashes());
    expect(afterFirst).toHaveLength(1);

    const second = await call("two");
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain("two");
    expect(second.stderr).not.toMatch(/paid|refused|402/);
    expect(added(before, await bobPaymentHashes())).toEqual(afterFirst);

    const third = await call("three");
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).toContain("three");
    expect(third.stderr).toContain("the balance of the cached token for metered ran out (0 sats left");
    expect(third.stderr).toContain("topping it up");
    expect(third.stderr).toContain("asking to top up 4 sats");
    expect(third.stderr).not.toContain("refused");
    expect(third.stderr).toMatch(/paid 4 sats, fee \d+ sats/);
    expect(added(before, await bobPaymentHashes())).toHaveLength(2);

    // Two deposits of 4 sats, three calls of 2: 2 sats come back.
    const closed = await runCli(["close", running.gateway.url], env);
    expect(closed.code, closed.stderr).toBe(0);
    expect(JSON.parse(closed.stdout)).toMatchObject({
      tokens: [{ refund: { status: "succeeded", receivedSats: 2 } }],
    });
    const budget = JSON.parse((await runCli(["budget"], env)).stdout) as { spent: { totalSats: number } };
    // Both deposits counted in full (plus fees) until the refund arrived; the refund came off.
    expect(budget.spent.totalSats).toBeGreaterThanOrEqual(8 - 2);
  });

  it("--deposit 0 pays what the gateway asks by itself: one call", async () => {
    const env = bobCliEnv(tempStorePath());
    const paid = await runCli(["post", `${running.gateway.url}/v1/echo`, "-d", "single", "--deposit", "0"], env);
    expect(paid.code, paid.stderr).toBe(0);
    expect(paid.stderr).not.toContain("prepay");
    expect(paid.stderr).toMatch(/paid 2 sats, fee \d+ sats/);
    expect((await runCli(["close", running.gateway.url], env)).code).toBe(0);
  });

  it("a Payment session is opened with the deposit the client asks for, and its top-up too", async () => {
    const events: string[] = [];
    const agent = bobClient({ deposit: { calls: 3 }, onEvent: (event) => events.push(event.type) });
    const before = await bobPaymentHashes();
    for (let i = 0; i < 4; i++) {
      const res = await agent.fetch(`${running.gateway.url}/v1/session`, { method: "POST", body: `call ${i}` });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain(`call ${i}`);
    }
    const receipts = await agent.receipts();
    expect(receipts.map((receipt) => [receipt.paid, receipt.amountSats]).sort()).toEqual([
      ["session", 6],
      ["topUp", 6],
    ]);
    expect(added(before, await bobPaymentHashes())).toHaveLength(2);
    expect(events.filter((type) => type === "top_up")).toHaveLength(1);
    expect(events).not.toContain("token_dropped");
    const [closed] = await agent.closeSessions();
    // 12 sats paid in, four calls of 2 sats: 4 sats come back.
    expect(closed?.refund).toMatchObject({ status: "succeeded", receivedSats: 4 });
  });

  it("a Payment session's stream ends with a payment-receipt event, which the client reads and takes out", async () => {
    const receipts: { sessionId: string; spentSats: bigint; units: bigint }[] = [];
    const agent = bobClient({
      onEvent: (event) => {
        if (event.type === "stream_receipt") receipts.push(event);
      },
    });
    const response = await agent.fetch(`${running.gateway.url}/v1/stream`);
    expect(response.status).toBe(200);
    const reader = response.body?.getReader();
    let text = "";
    for (let read = await reader?.read(); read && !read.done; read = await reader?.read()) {
      text += new TextDecoder().decode(read.value);
      if (text.includes('"chunk":1') || text.includes('"chunk":2')) running.upstream.release();
    }
    expect(text).toContain('data: {"chunk":3}');
    expect(text).toContain("data: [DONE]");
    expect(text).not.toContain("payment-receipt");
    const [session] = await agent.sessions();
    expect(receipts).toEqual([expect.objectContaining({ sessionId: session?.sessionId, spentSats: 2n, units: 1n })]);
    await agent.closeSessions();
  });

  it("keeps the accounting invariant", async () => {
    const verdict = await checkAccounting({ storePath, lnd: aliceLnd, upstreamServed: echoed(), quiescent: true });
    expect(verdict.violations).toEqual([]);
  });
});
