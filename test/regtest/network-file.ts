import { readFileSync } from "node:fs";
import { type AuthenticatedLnd, authenticatedLndGrpc } from "lightning";
import { z } from "zod";
import { manualNetworkFile } from "./paths.js";

const nodeSchema = z.object({
  alias: z.string(),
  publicKey: z.string().regex(/^[0-9a-f]{66}$/),
  /** host:port of the gRPC listener, as the `lightning` package's `socket`. */
  socket: z.string(),
  restUrl: z.string(),
  /** pubkey@host:port for peering. */
  p2pAddress: z.string(),
  /** Base64 of tls.cert. */
  cert: z.string().min(1),
  adminMacaroon: z.string().min(1),
  invoiceMacaroon: z.string().min(1),
  lnddir: z.string(),
  lncli: z.string(),
  lncliArgs: z.array(z.string()),
  pid: z.number().int(),
});

export const networkFileSchema = z.object({
  version: z.literal(1),
  runDir: z.string(),
  createdAt: z.string(),
  btcd: z.object({
    rpcHost: z.string(),
    rpcUser: z.string(),
    rpcPass: z.string(),
    /** Base64 of btcd's rpc.cert. */
    rpcCert: z.string().min(1),
    p2pHost: z.string(),
    btcctl: z.string(),
    btcctlArgs: z.array(z.string()),
    pid: z.number().int(),
  }),
  nodes: z.object({ alice: nodeSchema, bob: nodeSchema }),
  channel: z.object({
    fundingTxid: z.string(),
    fundingOutputIndex: z.number().int(),
    capacitySats: z.number().int(),
    /** bob opened it, so bob holds the funds and alice receives: the agent pays the operator. */
    opener: z.literal("bob"),
  }),
});

export type RegtestNetworkInfo = z.infer<typeof networkFileSchema>;
export type RegtestNodeInfo = z.infer<typeof nodeSchema>;
export type NodeName = keyof RegtestNetworkInfo["nodes"];

export class NetworkFileError extends Error {
  override readonly name = "NetworkFileError";
}

/** Reads and validates a network.json; defaults to the one `npm run regtest:up` writes. */
export function readNetworkFile(path = manualNetworkFile()): RegtestNetworkInfo {
  let raw: string;
  try {
    raw = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new NetworkFileError(`No regtest network file at ${path}: start one with 'npm run regtest:up'`);
    }
    throw new NetworkFileError(`Cannot read the regtest network file at ${path}: ${(error as Error).message}`);
  }
  const parsed = networkFileSchema.safeParse(JSON.parse(raw));
  if (!parsed.success) {
    throw new NetworkFileError(`${path} is not a valid network file: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/** How a gateway reaches a node: least privilege, the invoice macaroon is all it needs. */
export function gatewayLndConfig(node: RegtestNodeInfo): { socket: string; cert: string; macaroon: string } {
  return { socket: node.socket, cert: node.cert, macaroon: node.invoiceMacaroon };
}

/** A `lightning` gRPC client for a node, with its admin or invoice macaroon. */
export function lndClient(node: RegtestNodeInfo, macaroon: "admin" | "invoice" = "admin"): AuthenticatedLnd {
  return authenticatedLndGrpc({
    cert: node.cert,
    macaroon: macaroon === "admin" ? node.adminMacaroon : node.invoiceMacaroon,
    socket: node.socket,
  }).lnd;
}
