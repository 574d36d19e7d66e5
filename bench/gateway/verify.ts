/**
 * Token verification throughput per CPU-second of this process, side by side in one run: the native HMAC and SHA-256
 * calls it is made of, the HMAC chain alone, the l402 core's full verification of a credential not seen before
 * (parse header, decode, preimage, HMAC chain, caveats), the gateway's authenticator doing the same with its SQLite
 * store (in memory), and the authenticator for a credential seen before. Each rate is printed as a ratio to the
 * 100,000/s target and to the HMAC chain alone, next to the floor this CPU allows: the native calls the path cannot
 * avoid × their measured cost.
 *
 * Every row is measured in each of `--rounds` rounds and keeps its best round: other load on a shared machine only
 * ever slows a round down.
 *
 *   npm run bench:verify -- [--seconds 1] [--rounds 2] [--attenuations 0] [--tokens 2000]
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
    rounds: { type: "string", default: "2" },
  },
});
const SECONDS = Number(values.seconds);
const ATTENUATIONS = Number(values.attenuations);
const TOKENS = Number(values.tokens);
const ROUNDS = Number(values.rounds);
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
async function measure(work: () => undefined | Promise<void>): Promise<number> {
  const batch = async () => {
    for (let i = 0; i < 100; i++) {
      const pending = work();
      if (pending) await pending;
    }
  };
  for (let i = 0; i < 20; i++) await batch();
  let count = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const started = process.cpuUsage();
  while (performance.now() < deadline) {
    await batch();
    count += 100;
  }
  const used = process.cpuUsage(started);
  return count / ((used.user + used.system) / 1e6);
}

interface Path {
  readonly label: string;
  readonly work: () => undefined | Promise<void>;
  /** The native calls the path cannot do without: its floor on this CPU. */
  readonly hmacs?: number;
  readonly shas?: number;
}

const one = credential();
const HMACS_FROM_ROOT_KEY = 2 + one.caveats;
const decoded = decodeMacaroon(parseAuthorization(one.header).macaroons[0] ?? "");
const kept = MacaroonKey.derive(one.minted.rootKey);
const hmacKey = randomBytes(32);
const hmacData = randomBytes(40);

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
  return undefined;
};

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
// The derived keys kept, as the challenger gives them at mint.
const primed = new MacaroonKeys(TOKENS);
for (const { minted } of credentials) {
  primed.remember(minted.rootKeyId.toString("hex"), minted.rootKey, minted.macaroonKey);
}

/** Each call authenticates the next credential; `expectCached` says whether it must come from the cache. */
async function authenticating(authenticator: Authenticator, expectCached: boolean) {
  // One pass first, so that the seen-before row starts with every credential verified once.
  for (const { headers } of credentials) await authenticator.authenticate(headers, SERVICE, ["chat"]);
  let next = 0;
  return async () => {
    const { headers } = credentials[next++ % credentials.length] as Credential;
    const result = await authenticator.authenticate(headers, SERVICE, ["chat"]);
    if (!result.ok || (result.cached ?? false) !== expectCached) throw new Error(JSON.stringify(result));
  };
}

const HMAC = "native HMAC-SHA256 (createHmac, 40 bytes)";
const SHA = "native SHA-256 (crypto.hash, 40 bytes)";
const CHAIN = "HMAC chain alone, from the root key";
const paths: Path[] = [
  { label: HMAC, work: () => void createHmac("sha256", hmacKey).update(hmacData).digest(), hmacs: 1 },
  { label: SHA, work: () => void hash("sha256", hmacData, "buffer"), shas: 1 },
  {
    label: CHAIN,
    work: () => void decoded.hasValidSignature(one.minted.rootKey),
    hmacs: HMACS_FROM_ROOT_KEY,
  },
  {
    label: "HMAC chain alone, from a kept MacaroonKey",
    work: () => void decoded.hasValidSignature(kept),
    hmacs: HMACS_FROM_ROOT_KEY - 1,
  },
  { label: "l402 core, first seen, root key", work: core(one.minted.rootKey), hmacs: HMACS_FROM_ROOT_KEY, shas: 1 },
  { label: "l402 core, first seen, kept MacaroonKey", work: core(kept), hmacs: HMACS_FROM_ROOT_KEY - 1, shas: 1 },
  {
    // No cache at all: every credential is verified afresh, its key derived afresh.
    label: "gateway authenticator + SQLite, first seen",
    work: await authenticating(new Authenticator(store, () => {}, 0), false),
    hmacs: HMACS_FROM_ROOT_KEY,
    shas: 2,
  },
  {
    label: "gateway authenticator + SQLite, first seen, key kept",
    work: await authenticating(new Authenticator(store, () => {}, 0, primed), false),
    hmacs: HMACS_FROM_ROOT_KEY - 1,
    shas: 2,
  },
  {
    // The default caches: every credential has been verified before; only the store is asked.
    label: "gateway authenticator + SQLite, seen before",
    work: await authenticating(new Authenticator(store, () => {}, Math.max(TOKENS, 10_000)), true),
  },
];

const best = new Map<string, number>();
for (let round = 0; round < ROUNDS; round++) {
  for (const path of paths) best.set(path.label, Math.max(best.get(path.label) ?? 0, await measure(path.work)));
}
await store.close();

const rate = (label: string) => best.get(label) ?? Number.NaN;
const hmacUs = 1e6 / rate(HMAC);
const shaUs = 1e6 / rate(SHA);
const thousands = (n: number) => Math.round(n).toLocaleString("en-US");
console.log(`${one.caveats} caveats, ${TOKENS} tokens in the store, best of ${ROUNDS} rounds of ${SECONDS} CPU-s\n`);
const header = ["path", "/s", "µs", "× 100k", "× chain", "floor /s", "of floor"];
const table = paths.map((path) => {
  const floorUs = (path.hmacs ?? 0) * hmacUs + (path.shas ?? 0) * shaUs;
  const perSecond = rate(path.label);
  return [
    path.label,
    thousands(perSecond),
    (1e6 / perSecond).toFixed(2),
    (perSecond / TARGET).toFixed(2),
    (perSecond / rate(CHAIN)).toFixed(2),
    floorUs > 0 ? `${thousands(1e6 / floorUs)} (${path.hmacs ?? 0} HMAC + ${path.shas ?? 0} SHA)` : "-",
    floorUs > 0 ? `${Math.round((100 * floorUs * perSecond) / 1e6)}%` : "-",
  ];
});
const widths = header.map((_, i) => Math.max(...[header, ...table].map((cells) => (cells[i] ?? "").length)));
for (const cells of [header, ...table]) {
  console.log(
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  "),
  );
}
