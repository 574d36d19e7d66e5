import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RegtestNodeInfo } from "../regtest/network-file.js";
import { allocatePorts, LOOPBACK } from "../regtest/ports.js";
import { ensureAperture } from "../tools/aperture.js";
import { type Supervised, supervise } from "./supervised.js";

export interface ApertureOptions {
  /** The operator's node: Aperture makes its invoices there, and pays session refunds from it. */
  readonly node: RegtestNodeInfo;
  /** host:port of a plain-HTTP upstream. */
  readonly upstream: string;
  /** Sats per call. */
  readonly priceSats: number;
  /** Which credentials the service accepts; every 402 offers all schemes enabled anyway. */
  readonly authScheme: "l402" | "mpp" | "l402+mpp";
  /** Payment sessions (deposit = price × `depositMultiplier`); needs the admin macaroon, which refunds use. */
  readonly sessions?: boolean;
  readonly depositMultiplier?: number;
}

export interface RunningAperture extends Supervised {
  readonly url: string;
  readonly realm: string;
}

/**
 * Runs Aperture v0.5.0 (`ensureAperture()`) on the regtest network: plain HTTP (`insecure`), SQLite
 * (`databasefilename`, the key v0.5.0 reads), MPP on (`enablempp`), one service in front of `upstream`.
 */
export async function startAperture(options: ApertureOptions): Promise<RunningAperture> {
  const binary = await ensureAperture();
  const dir = mkdtempSync(join(tmpdir(), "aperture-"));
  const [port] = await allocatePorts(1);
  const realm = "aperture.regtest";
  const lndDataDir = join(options.node.lnddir, "data", "chain", "bitcoin", "regtest");
  const config = [
    `listenaddr: "${LOOPBACK}:${port}"`,
    "insecure: true",
    `basedir: "${join(dir, "base")}"`,
    'debuglevel: "info"',
    'dbbackend: "sqlite"',
    "sqlite:",
    `  databasefilename: "${join(dir, "aperture.db")}"`,
    "authenticator:",
    '  network: "regtest"',
    `  lndhost: "${options.node.socket}"`,
    `  tlspath: "${join(options.node.lnddir, "tls.cert")}"`,
    `  macdir: "${lndDataDir}"`,
    "  enablempp: true",
    `  mpprealm: "${realm}"`,
    `  enablesessions: ${options.sessions ? "true" : "false"}`,
    "services:",
    '  - name: "paid"',
    "    hostregexp: '.*'",
    "    pathregexp: '^/.*$'",
    `    address: "${options.upstream}"`,
    "    protocol: http",
    `    price: ${options.priceSats}`,
    `    authscheme: "${options.authScheme}"`,
    "",
  ].join("\n");
  const configFile = join(dir, "aperture.yaml");
  writeFileSync(configFile, config);
  // v0.5.0 parses its flags again after the YAML file, so a flag's default (this one's is 20) overrides the file.
  const multiplier = `--authenticator.sessiondepositmultiplier=${options.depositMultiplier ?? 20}`;
  const child = spawn(binary, [`--configfile=${configFile}`, multiplier], { stdio: ["ignore", "pipe", "pipe"] });
  const proc = supervise(child);
  try {
    await proc.match(/Starting the server, listening on/);
  } catch (error) {
    await proc.kill();
    throw error;
  }
  return { ...proc, url: `http://${LOOPBACK}:${port}`, realm };
}
