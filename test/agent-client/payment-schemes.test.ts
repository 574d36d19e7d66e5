import { PAYMENT_RECEIPT_HEADER, parsePaymentReceipt } from "@l402-gateway/l402";
import { describe, expect, it } from "vitest";
import { checkAccounting } from "../support/accounting.js";
import {
  added,
  aliceLnd,
  bobCliEnv,
  bobClient,
  bobPaymentHashes,
  codeOf,
  runCli,
  tempStorePath,
  useRefundingGateway,
} from "./support.js";

const CHARGE_SATS = 5;
const PER_CALL_MSAT = 2_000;
const DEPOSIT_MSAT = 3 * PER_CALL_MSAT;

describe("the agent client pays the gateway's Payment charge and session, and closes for refunds (regtest)", () => {
  const running = useRefundingGateway((upstreamUrl) => [
    {
      name: "weather",
      match: { pathPrefix: "/weather/" },
      upstream: upstreamUrl,
      price: { sats: CHARGE_SATS },
      schemes: ["l402", "payment-charge"],
    },
    {
      name: "echo",
      match: { pathPrefix: "/v1/echo" },
      upstream: upstreamUrl,
      pricing: { rules: [{ perCallMsat: PER_CALL_MSAT }] },
      schemes: ["l402", "payment-session"],
    },
  ]);
  const storePath = running.storePath;
  const echoed = () => running.upstream.seen.filter((seen) => seen.url.startsWith("/v1/echo")).length;

  it("for one call, pays the charge: one invoice per call, each credential used once, a receipt naming it", async () => {
    const agent = bobClient({ preference: { calls: "one" } });
    const before = await bobPaymentHashes();
    for (let i = 0; i < 2; i++) {
      const res = await agent.fetch(`${running.gateway.url}/weather/today?i=${i}`);
      expect(res.status).toBe(200);
      await res.text();
      const receipt = parsePaymentReceipt(res.headers.get(PAYMENT_RECEIPT_HEADER) ?? "");
      expect(receipt.reference).toBe((await agent.receipts())[0]?.paymentHash);
    }
    expect(added(before, await bobPaymentHashes())).toHaveLength(2);
    expect((await agent.receipts()).map((receipt) => receipt.paid)).toEqual(["charge", "charge"]);
    expect(await agent.tokens()).toEqual([]);
  });

  it("one budget holds across schemes: a charge and a session deposit count against the same limits", async () => {
    const agent = bobClient({
      maxFeeSats: 1,
      budget: { totalSats: CHARGE_SATS + 1 },
      preference: { order: ["charge", "session"] },
    });
    const before = await bobPaymentHashes();
    const res = await agent.fetch(`${running.gateway.url}/weather/today`);
    expect(res.status).toBe(200);
    await res.text();
    expect(await codeOf(agent.fetch(`${running.gateway.url}/weather/today`))).toBe("budget_exceeded");
    expect(await codeOf(agent.fetch(`${running.gateway.url}/v1/echo`, { method: "POST", body: "x" }))).toBe(
      "budget_exceeded",
    );
    expect(added(before, await bobPaymentHashes())).toHaveLength(1);
    const [receipt] = await agent.receipts();
    expect((await agent.budget()).spent.totalSats).toBe(CHARGE_SATS + (receipt?.feeSats ?? 0));
  });

  it("for many calls, opens a session, uses it as bearer, tops it up, and closes it for the unspent rest", async () => {
    const agent = bobClient({ preference: { calls: "many" } });
    const before = await bobPaymentHashes();
    const served = echoed();
    // The deposit is what the first 402 quotes: the agent asks for three calls' worth.
    const deposit = { headers: { "x-l402-deposit-msat": String(DEPOSIT_MSAT) } };
    for (let i = 0; i < 4; i++) {
      const res = await agent.fetch(`${running.gateway.url}/v1/echo`, {
        method: "POST",
        body: `call ${i}`,
        ...deposit,
      });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain(`call ${i}`);
    }
    expect(echoed() - served).toBe(4);
    // The deposit covered three calls; the fourth found the balance short and paid one top-up.
    const paid = added(before, await bobPaymentHashes());
    expect(paid).toHaveLength(2);
    const receipts = await agent.receipts();
    expect(receipts.map((receipt) => receipt.paid).sort()).toEqual(["session", "topUp"]);
    const [session] = await agent.sessions();
    const credited = receipts.reduce((sum, receipt) => sum + receipt.amountSats, 0);
    expect(session).toMatchObject({ status: "open", opened: true, paidSats: credited });

    // The deposit and the top-up count in full until the refund arrives.
    const spentOpen = (await agent.budget()).spent.totalSats;
    expect(spentOpen).toBeGreaterThanOrEqual(credited);
    const [closed] = await agent.closeSessions();
    const refunded = credited - (4 * PER_CALL_MSAT) / 1000;
    expect(closed?.refund).toMatchObject({ status: "succeeded", announcedSats: refunded, receivedSats: refunded });
    const deposited = (await agent.receipts()).find((receipt) => receipt.paid === "session");
    expect(deposited?.refund).toMatchObject({ status: "succeeded", receivedSats: refunded });
    // The refund received releases its sats from the budgets.
    expect((await agent.budget()).spent.totalSats).toBe(spentOpen - refunded);
    // Closed: a later call opens a new session rather than presenting the old one.
    expect((await agent.sessions()).map((stored) => stored.status)).toEqual(["closed"]);
  });

  it("closes an L402 prepaid token through POST /l402/close and records the refund on its receipt", async () => {
    const agent = bobClient({ preference: { order: ["l402"] }, closeSessionsOnClose: true });
    const deposit = { headers: { "x-l402-deposit-msat": String(DEPOSIT_MSAT) } };
    const res = await agent.fetch(`${running.gateway.url}/v1/echo`, { method: "POST", body: "one", ...deposit });
    expect(res.status).toBe(200);
    await res.text();
    const [token] = await agent.tokens();
    const { tokens } = await agent.close();
    const refunded = (DEPOSIT_MSAT - PER_CALL_MSAT) / 1000;
    expect(tokens).toEqual([
      expect.objectContaining({
        paymentHash: token?.paymentHash,
        refund: expect.objectContaining({ status: "succeeded", receivedSats: refunded }),
      }),
    ]);
    expect(await agent.tokens()).toEqual([]);
    expect((await agent.receipts())[0]?.refund).toMatchObject({ status: "succeeded", receivedSats: refunded });
  });

  it("the CLI says which scheme paid, and `l402 close` collects the session's refund", async () => {
    const env = bobCliEnv(tempStorePath());
    const deposit = ["-H", `x-l402-deposit-msat: ${DEPOSIT_MSAT}`];
    const paid = await runCli(
      ["post", `${running.gateway.url}/v1/echo`, "-d", "cli", ...deposit, "--scheme", "session"],
      env,
    );
    expect(paid).toMatchObject({ code: 0 });
    expect(paid.stderr).toMatch(/paid \d+ sats, fee \d+ sats, hash [0-9a-f]{64} \(Payment session deposit\)/);
    const listed = JSON.parse((await runCli(["tokens", "list"], env)).stdout) as { scheme: string; status: string }[];
    expect(listed).toEqual([expect.objectContaining({ scheme: "session", status: "open" })]);

    const closed = await runCli(["close", running.gateway.url], env);
    expect(closed.code).toBe(0);
    const refunded = (DEPOSIT_MSAT - PER_CALL_MSAT) / 1000;
    expect(JSON.parse(closed.stdout)).toMatchObject({
      sessions: [{ refund: { status: "succeeded", receivedSats: refunded } }],
      tokens: [],
    });
    const receipts = JSON.parse((await runCli(["receipts"], env)).stdout) as unknown[];
    expect(receipts).toEqual([
      expect.objectContaining({ scheme: "session", refund: expect.objectContaining({ receivedSats: refunded }) }),
    ]);
    // Nothing printed carries a preimage.
    const [session] = JSON.parse((await runCli(["tokens", "list"], env)).stdout) as { session_id: string }[];
    expect(session?.session_id).toMatch(/^[0-9a-f]{64}$/);
    for (const output of [paid.stderr, paid.stdout, closed.stdout, closed.stderr])
      expect(output).not.toMatch(/preimage/i);
  });

  it("keeps the accounting invariant", async () => {
    const verdict = await checkAccounting({ storePath, lnd: aliceLnd, upstreamServed: echoed(), quiescent: true });
    expect(verdict.violations).toEqual([]);
  });
});
