/**
 * The console's owner reports on a large SQLite store: a token list page (each sort, the first page and a deep one,
 * with its totals), the revenue series (24 hours by hour, 30 days by day), and one traffic flush. Prints the median
 * of several runs of each, in ms.
 *
 *   npm run bench:reports -- [--tokens 100000] [--runs 7]
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { SqliteTokenStore } from "@l402-gateway/gateway";
import { median } from "../support/median.js";

const { values } = parseArgs({
  options: { tokens: { type: "string", default: "100000" }, runs: { type: "string", default: "7" } },
});
const TOKENS = Number(values.tokens);
const RUNS = Number(values.runs);
const SERVICES = ["api", "llm", "weather"];
const HOUR = 3_600_000;

const dir = mkdtempSync(join(tmpdir(), "bench-reports-"));
const store = new SqliteTokenStore(join(dir, "gateway.sqlite"));
const now = Date.now();
const hex = (n: number) => randomBytes(n).toString("hex");

console.log(`filling ${TOKENS} tokens over 30 days (every other paid, a third metered with 3 charges each)…`);
for (let i = 0; i < TOKENS; i++) {
  const createdAt = new Date(now - Math.floor((i / TOKENS) * 30 * 24 * HOUR));
  const metered = i % 3 === 0;
  const token = {
    tokenId: hex(32),
    rootKeyId: hex(32),
    rootKey: randomBytes(32),
    paymentHash: hex(32),
    service: SERVICES[i % SERVICES.length] ?? "api",
    priceSats: 10 + (i % 50),
    invoice: "lnbcrt1...",
    createdAt,
    invoiceExpiresAt: new Date(createdAt.getTime() + 600_000),
    validUntil: new Date(createdAt.getTime() + 86_400_000),
    metered,
  };
  await store.insertToken(token);
  if (i % 2 === 0) {
    await store.markPaid(token.paymentHash, createdAt);
    if (metered) {
      for (let c = 0; c < 3; c++) {
        const reservation = await store.reserve(token.tokenId, 100, createdAt);
        if (reservation.ok) {
          await store.closeReservation(
            reservation.id,
            { amountMsat: 50, service: token.service, model: "m", reason: "usage" },
            createdAt,
          );
        }
      }
    }
  }
}
for (let h = 0; h < 30 * 24; h++) {
  const hourStart = new Date(Math.floor((now - h * HOUR) / HOUR) * HOUR);
  await store.addTraffic(SERVICES.map((service) => ({ service, hourStart, challenges: 20, calls: 15 })));
}

async function time(name: string, work: () => Promise<unknown>) {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    await work();
    samples.push(performance.now() - start);
  }
  console.log(`${name.padEnd(52)} ${median(samples).toFixed(2)} ms`);
}

for (const sort of ["created", "paid", "balance", "used"] as const) {
  await time(`list, sort ${sort}, page 1 of 25, with totals`, () =>
    store.browseTokens({ sort, order: "desc", limit: 25, offset: 0 }),
  );
}
await time("list, sort created, page 400 of 25", () =>
  store.browseTokens({ sort: "created", order: "desc", limit: 25, offset: 399 * 25 }),
);
await time("list, service=llm status=paid, sort paid", () =>
  store.browseTokens({ service: "llm", status: "paid", sort: "paid", order: "desc", limit: 25, offset: 0 }),
);
await time("revenue series, 24 h by hour", () =>
  store.revenueSeries(new Date(Math.floor(now / HOUR) * HOUR - 23 * HOUR), HOUR),
);
await time("revenue series, 30 d by day", () =>
  store.revenueSeries(new Date(Math.floor(now / 86_400_000) * 86_400_000 - 29 * 86_400_000), 86_400_000),
);
await time("traffic flush (3 services, one upsert each)", () =>
  store.addTraffic(SERVICES.map((service) => ({ service, hourStart: new Date(now), challenges: 1, calls: 1 }))),
);
await store.close();
rmSync(dir, { recursive: true, force: true });
