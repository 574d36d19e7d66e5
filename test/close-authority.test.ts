import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, type RunningGateway, startGateway } from "@l402-gateway/gateway";
import { addFirstPartyCaveats, decodeMacaroon, formatAuthorization } from "@l402-gateway/l402";
import { cancelHodlInvoice, createInvoice, getInvoice, grantAccess, pay } from "lightning";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testNetwork } from "./regtest/context.js";
import { gatewayLndConfig, lndClient } from "./regtest/network-file.js";
import { checkAccounting } from "./support/accounting.js";
import { ensureOperatorCanPay } from "./support/operator-liquidity.js";
import { startUpstream, type TestUpstream } from "./support/upstream.js";

const network = testNetwork();
const alice = lndClient(network.nodes.alice);
const bob = lndClient(network.nodes.bob);
const CALL_MSAT = 2_000;
const DEPOSIT_MSAT = 30_000;

interface Held {
  readonly macaroon: string;
  readonly preimage: Buffer;
}

const authorizationOf = (held: Held) => formatAuthorization({ macaroons: [held.macaroon], preimage: held.preimage });

/** The same macaroon (identifier and caveats) with another signature: what anyone holding the preimage can forge. */
function withForgedSignature(macaroon: string): string {
  const bytes = Buffer.from(macaroon, "base64");
  const at = bytes.lastIndexOf(decodeMacaroon(macaroon).signature);
  bytes.fill(0x5a, at, at + 32);
  return bytes.toString("base64");
}

describe("only the owner closes an account (regtest)", () => {
  let upstream: TestUpstream;
  let gateway: RunningGateway;
  const storePath = join(mkdtempSync(join(tmpdir(), "gw-close-authority-")), "gateway.sqlite");

  beforeAll(async () => {
    upstream = await startUpstream();
    const refundMacaroon = (await grantAccess({ lnd: alice, permissions: ["offchain:read", "offchain:write"] }))
      .macaroon;
    // Refunds are paid from alice's side of the channel bob opened.
    await ensureOperatorCanPay(alice, bob, 50_000);
    const config = parseConfig({
      listen: { port: 0 },
      operator: { port: 0 },
      lnd: { ...gatewayLndConfig(network.nodes.alice), refundMacaroon },
      store: { path: storePath },
      log: { level: "silent" },
      limits: { challengeBurst: 1_000, challengesPerMinute: 1_000 },
      refunds: { maxSats: 1_000, perMinute: 600, burst: 100 },
      services: [
        {
          name: "llm",
          match: { pathPrefix: "/v1/" },
          upstream: upstream.url,
          pricing: { rules: [{ perCallMsat: CALL_MSAT }], deposit: { minMsat: 1_000, maxMsat: 1_000_000 } },
          capabilities: ["chat", "completions"],
          capabilityRules: [
            { pathPrefix: "/v1/chat/", capability: "chat" },
            { pathPrefix: "/v1/completions", capability: "completions" },
          ],
        },
      ],
    });
    gateway = await startGateway(config, { log: pino({ level: "silent" }) });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  async function buyMeteredToken(): Promise<Held> {
    const res = await fetch(`${gateway.url}/v1/chat/x`, { headers: { "x-l402-deposit-msat": String(DEPOSIT_MSAT) } });
    expect(res.status).toBe(402);
    const body = (await res.json()) as { macaroon: string; invoice: string };
    const paid = await pay({ lnd: bob, request: body.invoice });
    return { macaroon: body.macaroon, preimage: Buffer.from(paid.secret, "hex") };
  }

  async function close(held: Held, invoice?: string) {
    const res = await fetch(`${gateway.url}/l402/close`, {
      method: "POST",
      headers: { authorization: authorizationOf(held), "content-type": "application/json" },
      body: JSON.stringify(invoice === undefined ? {} : { invoice }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function call(held: Held, path: string): Promise<number> {
    const res = await fetch(`${gateway.url}${path}`, { headers: { authorization: authorizationOf(held) } });
    await res.arrayBuffer();
    return res.status;
  }

  async function bobInvoice(): Promise<{ request: string; id: string }> {
    const invoice = await createInvoice({ lnd: bob, description: "refund" });
    return { request: invoice.request, id: invoice.id };
  }

  async function received(id: string): Promise<string> {
    return (await getInvoice({ lnd: bob, id })).received_mtokens;
  }

  it("refuses every narrowed delegate's close and retry with 403, pays the owner once, and changes nothing else", async () => {
    const owner = await buyMeteredToken();
    const now = Math.floor(Date.now() / 1000);
    const narrow = (caveats: string[]): Held => ({ ...owner, macaroon: addFirstPartyCaveats(owner.macaroon, caveats) });
    const completionsOnly = narrow(["llm_capabilities=completions"]);
    const shortened = narrow([`llm_valid_until=${now + 3_600}`]);
    const expired = narrow([`llm_valid_until=${now - 1}`]);
    const delegateOfDelegate: Held = {
      ...owner,
      macaroon: addFirstPartyCaveats(completionsOnly.macaroon, [`llm_valid_until=${now + 1_800}`]),
    };

    // The narrowed credentials are real: each is served where it may be, and refused where it may not.
    expect(await call(completionsOnly, "/v1/completions")).toBe(200);
    expect(await call(completionsOnly, "/v1/chat/completions")).toBe(402);
    expect(await call(shortened, "/v1/chat/completions")).toBe(200);
    expect(await call(delegateOfDelegate, "/v1/completions")).toBe(200);
    expect(await call(expired, "/v1/completions")).toBe(402);
    const spent = 3 * CALL_MSAT;

    // Before the owner closes: no delegate closes, and nothing changes (no refund paid, nothing revoked).
    const theirs: string[] = [];
    for (const delegate of [completionsOnly, shortened, delegateOfDelegate]) {
      const invoice = await bobInvoice();
      theirs.push(invoice.id);
      const refused = await close(delegate, invoice.request);
      expect(refused).toMatchObject({ status: 403, body: { code: "close_not_permitted" } });
      expect(String(refused.body.message)).toMatch(/narrowed by its holder/);
    }
    const expiredInvoice = await bobInvoice();
    theirs.push(expiredInvoice.id);
    expect((await close(expired, expiredInvoice.request)).status).toBe(401);
    expect(await call(owner, "/v1/chat/completions")).toBe(200);
    expect(await call(completionsOnly, "/v1/completions")).toBe(200);
    const balance = DEPOSIT_MSAT - spent - 2 * CALL_MSAT;

    // The owner closes to an invoice that fails: the refund is recorded failed, the token revoked.
    const doomed = await createInvoice({ lnd: bob });
    await cancelHodlInvoice({ lnd: bob, id: doomed.id });
    const failed = await close(owner, doomed.request);
    expect(failed).toMatchObject({ status: 200, body: { refund: { status: "failed", amount_msat: balance } } });
    expect(await call(completionsOnly, "/v1/completions")).toBe(402);
    await expect(checkAccounting({ storePath, lnd: alice, quiescent: true })).resolves.toMatchObject({
      violations: [],
    });

    // No delegate can redirect the failed refund to its own invoice, nor read it.
    for (const delegate of [completionsOnly, shortened, expired, delegateOfDelegate]) {
      const invoice = await bobInvoice();
      theirs.push(invoice.id);
      expect(await close(delegate, invoice.request)).toMatchObject({
        status: 403,
        body: { code: "close_not_permitted" },
      });
    }
    // Nor can one that rebuilds the owner's macaroon (identifier and caveats are plain text) without its signature.
    const forged: Held = { ...owner, macaroon: withForgedSignature(owner.macaroon) };
    expect(decodeMacaroon(forged.macaroon).caveats).toEqual(decodeMacaroon(owner.macaroon).caveats);
    const forgedInvoice = await bobInvoice();
    theirs.push(forgedInvoice.id);
    expect(await close(forged, forgedInvoice.request)).toMatchObject({
      status: 403,
      body: { code: "close_not_permitted" },
    });

    // The owner retries to a good invoice: paid once, exactly the balance.
    const good = await bobInvoice();
    const retried = await close(owner, good.request);
    expect(retried).toMatchObject({
      status: 200,
      body: { refund: { status: "succeeded", amount_msat: balance, payment_hash: good.id } },
    });
    expect(await received(good.id)).toBe(String(balance));
    // A repeat answers the stored refund and pays nothing more; a delegate still gets nothing.
    expect((await close(owner, (await bobInvoice()).request)).body).toMatchObject({
      refund: { status: "succeeded", payment_hash: good.id },
    });
    expect((await close(delegateOfDelegate, (await bobInvoice()).request)).status).toBe(403);
    expect(await received(good.id)).toBe(String(balance));
    for (const id of theirs) expect(await received(id)).toBe("0");

    const verdict = await checkAccounting({ storePath, lnd: alice, quiescent: true });
    expect(verdict.violations).toEqual([]);
  });
});
