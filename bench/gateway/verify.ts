/**
 * Token verification throughput per CPU-second of this process, side by side in one run: the native HMAC and SHA-256
 * calls it is made of, the HMAC chain alone, the l402 core's full verification of a credential not seen before
 * (parse header, decode, preimage, HMAC chain, caveats), the gateway's authenticator doing the same with its SQLite
 * store (in memory), and the authenticator for a credential seen before. Each rate is printed as a ratio to the
 * 100,000/s target and to the HMAC chain alone, next to the floor this CPU allows: the native calls the path cannot
 * avoid × their measured cost.
 *
 *   npm run bench:verify -- [--seconds 1] [--attenuations 0] [--tokens 2000]
 */
import { createHash, createHmac, hash, randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import {
  addFirstPartyCaveats,
  type CredentialHeaders,
  capabilitiesCaveat,
  decodeMacaroon,
  formatAuthorization,
  MacaroonKey,
  type MintedToken,
  mintToken,
  parseAuthorization,
  rootKeyId,
  servicesCaveat,
  validUntilCaveat,
  verifyToken,
} from "@l402-gateway/l402";
import { SqliteTokenStore } from "../../gateway/src/store/sqlite.js";
import { Authenticator } from "../../gateway/src/tokens/authenticator.js";
import { MacaroonKeys } from "../../gateway/src/tokens/macaroon-keys.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "1" },
    attenuations: { type: "string", default: "0" },
    tokens: { type: "string", default: "2000" },
  },
});
const SECONDS = Number(values.seconds);
const ATTENUATIONS = Number(values.attenuations);
const TOKENS = Number(values.tokens);
const TARGET = 100_000;
const SERVICE = "llm";

interface Credential {
  readonly minted: MintedToken;
  readonly preimage: Buffer;
  readonly header: string;
  readonly headers: CredentialHeaders;
  readonly caveats: number;
}

function credential(): Credential {
  const preimage = randomBytes(32);
  const caveats = [
    servicesCaveat([{ name: SERVICE, tier: 0 }]),
    capabilitiesCaveat(SERVICE, ["chat", "completions"]),
    validUntilCaveat(SERVICE, Math.floor(Date.now() / 1000) + 3600),
  ];
  const minted = mintToken({ paymentHash: createHash("sha256").update(preimage).digest(), caveats });
  let macaroon = minted.macaroonBase64;
  for (let i = 0; i < ATTENUATIONS; i++) macaroon = addFirstPartyCaveats(macaroon, [`${SERVICE}_capabilities=chat`]);
  const header = formatAuthorization({ macaroons: [macaroon], preimage });
  return { minted, preimage, header, headers: { authorization: [header] }, caveats: caveats.length + ATTENUATIONS };
}

/** Calls per CPU-second (user + system), so that other load on a shared machine does not skew it. */
function measure(work: () => void): number {
  for (let i = 0; i < 2_000; i++) work();
  let count = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const started = process.cpuUsage();
  while (performance.now() < deadline) {
    for (let i = 0; i < 100; i++) work();
    count += 100;
  }
  const used = process.cpuUsage(started);
  return count / ((used.user + used.system) / 1e6);
}

async function measureAsync(work: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 2_000; i++) await work();
  let count = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const started = process.cpuUsage();
  while (performance.now() < deadline) {
    for (let i = 0; i < 100; i++) await work();
    count += 100;
  }
  const used = process.cpuUsage(started);
  return count / ((used.user + used.system) / 1e6);
}

const one = credential();
const HMACS_FROM_ROOT_KEY = 2 + one.caveats;

// The native calls everything below is made of.
const hmacKey = randomBytes(32);
const hmacData = randomBytes(40);
const hmacRate = measure(() => {
  createHmac("sha256", hmacKey).update(hmacData).digest();
});
const shaRate = measure(() => {
  hash("sha256", hmacData, "buffer");
});
const hmacUs = 1e6 / hmacRate;
const shaUs = 1e6 / shaRate;

interface Row {
  readonly label: string;
  readonly rate: number;
  readonly hmacs?: number;
  readonly shas?: number;
}
const rows: Row[] = [];

const decoded = decodeMacaroon(parseAuthorization(one.header).macaroons[0] ?? "");
const chain = measure(() => {
  if (!decoded.hasValidSignature(one.minted.rootKey)) throw new Error("signature");
});
rows.push({ label: "HMAC chain alone, from the root key", rate: chain, hmacs: HMACS_FROM_ROOT_KEY });
const kept = MacaroonKey.derive(one.minted.rootKey);
rows.push({
  label: "HMAC chain alone, from a kept MacaroonKey",
  rate: measure(() => {
    if (!decoded.hasValidSignature(kept)) throw new Error("signature");
  }),
  hmacs: HMACS_FROM_ROOT_KEY - 1,
});

const core = (rootKey: Uint8Array | MacaroonKey) => () => {
  const parsed = parseAuthorization(one.header);
  verifyToken({
    macaroon: decodeMacaroon(parsed.macaroons[0] ?? ""),
    preimage: parsed.preimage,
    rootKey,
    service: SERVICE,
    issuerCaveats: 3,
    requiredCapabilities: ["chat"],
  });
};
rows.push({
  label: "l402 core, first seen, root key",
  rate: measure(core(one.minted.rootKey)),
  hmacs: HMACS_FROM_ROOT_KEY,
  shas: 1,
});
rows.push({
  label: "l402 core, first seen, kept MacaroonKey",
  rate: measure(core(kept)),
  hmacs: HMACS_FROM_ROOT_KEY - 1,
  shas: 1,
});

// The gateway's path: the authenticator with its SQLite store, over TOKENS paid tokens.
const store = new SqliteTokenStore(":memory:");
const credentials = Array.from({ length: TOKENS }, credential);
const now = new Date();
for (const { minted } of credentials) {
  const paymentHash = minted.identifier.paymentHash.toString("hex");
  await store.insertToken({
    tokenId: minted.identifier.tokenId.toString("hex"),
    rootKeyId: rootKeyId(minted.identifierBytes).toString("hex"),
    rootKey: minted.rootKey,
    paymentHash,
    service: SERVICE,
    priceSats: 10,
    invoice: "lnbcrt1bench",
    createdAt: now,
    invoiceExpiresAt: new Date(now.getTime() + 3_600_000),
    validUntil: new Date(now.getTime() + 3_600_000),
  });
  await store.markPaid(paymentHash, now);
}

async function authenticator(label: string, authenticator: Authenticator, expectCached: boolean): Promise<number> {
  // One pass first, so that the seen-before row starts with every credential verified once.
  for (const { headers } of credentials) await authenticator.authenticate(headers, SERVICE, ["chat"]);
  let next = 0;
  return measureAsync(async () => {
    const { headers } = credentials[next++ % credentials.length] as Credential;
    const result = await authenticator.authenticate(headers, SERVICE, ["chat"]);
    if (!result.ok || (result.cached ?? false) !== expectCached) throw new Error(`${label}: ${JSON.stringify(result)}`);
  });
}

// No cache at all: every credential is verified afresh, its key derived afresh.
rows.push({
  label: "gateway authenticator + SQLite, first seen",
  rate: await authenticator("first seen", new Authenticator(store, () => {}, 0), false),
  hmacs: HMACS_FROM_ROOT_KEY,
  shas: 2,
});
// The derived keys kept (as the challenger gives them at mint), the credentials still never seen before.
const primed = new MacaroonKeys(TOKENS);
for (const { minted } of credentials) {
  primed.remember(minted.rootKeyId.toString("hex"), minted.rootKey, minted.macaroonKey);
}
rows.push({
  label: "gateway authenticator + SQLite, first seen, key kept",
  rate: await authenticator("first seen, key kept", new Authenticator(store, () => {}, 0, primed), false),
  hmacs: HMACS_FROM_ROOT_KEY - 1,
  shas: 2,
});
// The default caches: after the warm-up every credential has been verified before; only the store is asked.
rows.push({
  label: "gateway authenticator + SQLite, seen before",
  rate: await authenticator("seen before", new Authenticator(store, () => {}, Math.max(TOKENS, 10_000)), true),
});
await store.close();

const thousands = (n: number) => Math.round(n).toLocaleString("en-US");
console.log(
  `native HMAC-SHA256 (createHmac, 40 bytes): ${hmacUs.toFixed(2)} µs; native SHA-256 (crypto.hash, 40 bytes): ${shaUs.toFixed(2)} µs`,
);
console.log(`${one.caveats} caveats, ${TOKENS} tokens in the store, ${SECONDS} CPU-s per row\n`);
const header = ["path", "/s", "µs", "× 100k", "× chain", "floor /s", "of floor"];
const table = rows.map((row) => {
  const floorUs = (row.hmacs ?? 0) * hmacUs + (row.shas ?? 0) * shaUs;
  return [
    row.label,
    thousands(row.rate),
    (1e6 / row.rate).toFixed(1),
    (row.rate / TARGET).toFixed(2),
    (row.rate / chain).toFixed(2),
    floorUs > 0 ? `${thousands(1e6 / floorUs)} (${row.hmacs} HMAC + ${row.shas ?? 0} SHA)` : "-",
    floorUs > 0 ? `${Math.round((100 * floorUs * row.rate) / 1e6)}%` : "-",
  ];
});
const widths = header.map((_, i) => Math.max(...[header, ...table].map((cells) => (cells[i] ?? "").length)));
for (const cells of [header, ...table]) {
  console.log(
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  "),
  );
}
