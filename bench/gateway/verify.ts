/**
 * Token verification throughput of the l402 core: header parse + macaroon decode + verify (preimage hash,
 * HMAC chain, caveats), as the gateway runs it per request, against the bare HMAC-chain check alone.
 *
 *   npm run bench:verify -- [--seconds 2] [--caveats 3]
 */
import { createHash, randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import {
  addFirstPartyCaveats,
  capabilitiesCaveat,
  decodeMacaroon,
  formatAuthorization,
  mintToken,
  parseAuthorization,
  servicesCaveat,
  validUntilCaveat,
  verifyToken,
} from "@l402-gateway/l402";

const { values } = parseArgs({
  options: { seconds: { type: "string", default: "2" }, attenuations: { type: "string", default: "0" } },
});
const seconds = Number(values.seconds);

const preimage = randomBytes(32);
const minted = mintToken({
  paymentHash: createHash("sha256").update(preimage).digest(),
  caveats: [
    servicesCaveat([{ name: "llm", tier: 0 }]),
    capabilitiesCaveat("llm", ["chat", "completions"]),
    validUntilCaveat("llm", Math.floor(Date.now() / 1000) + 3600),
  ],
});
let macaroon = minted.macaroonBase64;
for (let i = 0; i < Number(values.attenuations); i++)
  macaroon = addFirstPartyCaveats(macaroon, ["llm_capabilities=chat"]);
const header = formatAuthorization({ macaroons: [macaroon], preimage });

/** Work per CPU-second of this process (user + system), so that other load on a shared machine does not skew it. */
function rate(label: string, work: () => void): number {
  for (let i = 0; i < 2_000; i++) work();
  let count = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = process.cpuUsage();
  while (performance.now() < deadline) {
    for (let i = 0; i < 100; i++) work();
    count += 100;
  }
  const used = process.cpuUsage(started);
  const perSecond = count / ((used.user + used.system) / 1e6);
  console.log(
    `${label}: ${Math.round(perSecond).toLocaleString("en-US")} /s (${(1e6 / perSecond).toFixed(1)} µs each)`,
  );
  return perSecond;
}

const decoded = decodeMacaroon(macaroon);
const signatureOnly = rate("HMAC chain check alone", () => {
  if (!decoded.hasValidSignature(minted.rootKey)) throw new Error("signature");
});
const full = rate("full verification per request (parse header, decode, preimage, HMAC chain, caveats)", () => {
  const credential = parseAuthorization(header);
  verifyToken({
    macaroon: decodeMacaroon(credential.macaroons[0] ?? ""),
    preimage: credential.preimage,
    rootKey: minted.rootKey,
    service: "llm",
    issuerCaveats: 3,
    requiredCapabilities: ["chat"],
  });
});
console.log(`\nfull verification / HMAC chain alone: ${(full / signatureOnly).toFixed(2)}x on one core`);
