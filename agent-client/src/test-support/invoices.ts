/// <reference path="../types/invoices.d.ts" />
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import invoices from "invoices";

const CURVE_ORDER = BigInt("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
const nodeKey = generateKeyPairSync("ec", { namedCurve: "secp256k1" });
const jwk = nodeKey.publicKey.export({ format: "jwk" });
const x = Buffer.from(jwk.x ?? "", "base64url");
const y = Buffer.from(jwk.y ?? "", "base64url");
/** Compressed public key of the fake node that signs the invoices. */
export const FAKE_NODE_PUBLIC_KEY = Buffer.concat([Buffer.from([(y.at(-1) ?? 0) % 2 === 0 ? 2 : 3]), x]).toString(
  "hex",
);

export interface TestInvoice {
  readonly invoice: string;
  readonly paymentHash: string;
  readonly preimage: string;
}

/** A real, signed regtest BOLT11 invoice (for unit tests: no node needed). */
export function makeInvoice(options: {
  amountSats: number;
  expiresInSeconds?: number;
  createdAt?: Date;
  paymentHash?: string;
}): TestInvoice {
  const preimage = randomBytes(32);
  const paymentHash = options.paymentHash ?? createHash("sha256").update(preimage).digest("hex");
  const createdAt = options.createdAt ?? new Date();
  const expiresAt = new Date(createdAt.getTime() + (options.expiresInSeconds ?? 600) * 1000);
  const unsigned = invoices.createUnsignedRequest({
    created_at: createdAt.toISOString(),
    description: "test",
    destination: FAKE_NODE_PUBLIC_KEY,
    expires_at: expiresAt.toISOString(),
    id: paymentHash,
    mtokens: String(options.amountSats * 1000),
    network: "regtest",
    payment: randomBytes(32).toString("hex"),
    features: [{ bit: 9 }, { bit: 14 }, { bit: 17 }],
  });
  // The signature covers sha256(preimage); ECDSA with SHA-256 over the preimage signs exactly that hash.
  const raw = sign("sha256", Buffer.from(unsigned.preimage, "hex"), {
    key: nodeKey.privateKey,
    dsaEncoding: "ieee-p1363",
  });
  const r = raw.subarray(0, 32);
  let s = BigInt(`0x${raw.subarray(32).toString("hex")}`);
  if (s > CURVE_ORDER / 2n) s = CURVE_ORDER - s;
  const signature = Buffer.concat([r, Buffer.from(s.toString(16).padStart(64, "0"), "hex")]).toString("hex");
  const { request } = invoices.createSignedRequest({
    destination: FAKE_NODE_PUBLIC_KEY,
    hrp: unsigned.hrp,
    signature,
    tags: unsigned.tags,
  });
  return { invoice: request, paymentHash, preimage: preimage.toString("hex") };
}
