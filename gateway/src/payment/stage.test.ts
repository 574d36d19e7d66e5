import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceConfig } from "../config/schema.js";
import type { TokenRecord } from "../store/store.js";
import type { PaymentOutcome } from "./gate.js";
import { paymentStage } from "./stage.js";

const service = { name: "api" } as ServiceConfig;
const token = { tokenId: "ab".repeat(32) } as TokenRecord;

/** A listener that runs only the Payment stage, with a gate that answers what the test sets. */
describe("the Payment stage, alone", () => {
  let server: Server;
  let url: string;
  let next: PaymentOutcome | undefined;
  const asked: { authorization: readonly string[]; service: string }[] = [];
  const gate = {
    authenticate: async (authorization: readonly string[], of: ServiceConfig) => {
      asked.push({ authorization, service: of.name });
      return next;
    },
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      const authorization = [req.headers.authorization ?? []].flat();
      void paymentStage(gate, req, res, service, authorization).then((step) => {
        if (step.answered) return;
        res.writeHead(299, { "content-type": "application/json" }).end(JSON.stringify(step));
      });
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
  });
  afterAll(() => new Promise<void>((done) => server.close(() => done())));

  const call = async (outcome: PaymentOutcome | undefined, authorization = "Payment abc") => {
    next = outcome;
    const res = await fetch(url, { method: "POST", body: "a body", headers: { authorization } });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
  };

  it("adds nothing without a Payment credential, and hands the gate the request's Authorization and service", async () => {
    expect(await call(undefined, "L402 x:y")).toMatchObject({ status: 299, body: {} });
    expect(asked.at(-1)).toEqual({ authorization: ["L402 x:y"], service: "api" });
  });

  it("returns a claimed charge and a session with their receipts, answering nothing itself", async () => {
    expect((await call({ kind: "charge", receipt: "r1" })).body).toEqual({ charged: true, receipt: "r1" });
    const session = await call({ kind: "session", auth: { ok: true, token, caveats: [] }, receipt: "r2" });
    expect(session.body).toMatchObject({ auth: { ok: true, token: { tokenId: token.tokenId } }, receipt: "r2" });
  });

  it("answers a session's own reply (top-up, close) itself, privately, with its receipt on success", async () => {
    const reply = await call({ kind: "reply", reply: { status: 200, body: { closed: true }, receipt: "r3" } });
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ closed: true });
    expect(reply.headers.get("payment-receipt")).toBe("r3");
    expect(reply.headers.get("cache-control")).toBe("private");
  });

  it("answers a 400 problem itself, and leaves any other refusal to the 402 with its L402 code", async () => {
    const bad = await call({ kind: "refused", refusal: { type: "bad-request", detail: "no" } });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toContain("application/problem+json");
    const refusal = { type: "verification-failed" as const, detail: "wrong preimage" };
    const refused = await call({ kind: "refused", refusal });
    expect(refused.status).toBe(299);
    expect(refused.body).toEqual({ auth: { ok: false, code: "wrong_preimage", message: "wrong preimage" }, refusal });
  });
});
