import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync, type Stats, unwatchFile, watchFile } from "node:fs";
import type { RequestListener } from "node:http";
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from "node:tls";
import type { Logger } from "pino";
import { ConfigError } from "../config/load.js";
import type { ClientAddresses } from "./client-address.js";
import { sendJsonError } from "./errors.js";

/** TLS 1.0 and 1.1 are deprecated (RFC 8996); Node's defaults already give 1.2+, this pins it. */
export const MIN_TLS_VERSION = "TLSv1.2";

export interface TlsFiles {
  readonly certPath: string;
  readonly keyPath: string;
  readonly pollIntervalMs: number;
}

/** A certificate chain and key that were read and checked to belong together. */
export interface KeyPair {
  readonly options: SecureContextOptions;
  /** The leaf certificate's subject and expiry, for the log. */
  readonly subject: string;
  readonly validTo: string;
}

function readPem(path: string, field: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`listen.tls.${field}: cannot read ${path}: ${(error as Error).message}`);
  }
}

/** Reads and checks the pair; throws ConfigError naming the field when a file is missing, unreadable or mismatched. */
export function readKeyPair(files: TlsFiles): KeyPair {
  const cert = readPem(files.certPath, "certPath");
  const key = readPem(files.keyPath, "keyPath");
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (error) {
    throw new ConfigError(
      `listen.tls.certPath: ${files.certPath} holds no PEM certificate: ${(error as Error).message}`,
    );
  }
  try {
    createPrivateKey(key);
  } catch (error) {
    throw new ConfigError(`listen.tls.keyPath: ${files.keyPath} holds no PEM private key: ${(error as Error).message}`);
  }
  const options: SecureContextOptions = { cert, key, minVersion: MIN_TLS_VERSION };
  try {
    createSecureContext(options);
  } catch (error) {
    throw new ConfigError(
      `listen.tls: the key in ${files.keyPath} does not belong to the certificate in ${files.certPath}: ` +
        (error as Error).message,
    );
  }
  return { options, subject: leaf.subject.replaceAll("\n", ", "), validTo: leaf.validTo };
}

/**
 * Polls both files' status and, when either changes, swaps the server's secure context for the new pair: new
 * connections get the new certificate, open ones keep theirs. A pair that does not load (a half-written rotation,
 * a key that does not match yet) is logged and the current one kept; the next change tries again.
 * Returns the function that stops watching.
 */
export function watchKeyPair(server: TlsServer, files: TlsFiles, log: Logger): () => void {
  const reload = (current: Stats, previous: Stats) => {
    // watchFile also reports access-time changes, which reading the files here causes: only content changes count.
    if (current.mtimeMs === previous.mtimeMs && current.ino === previous.ino && current.size === previous.size) return;
    try {
      const pair = readKeyPair(files);
      server.setSecureContext(pair.options);
      log.info({ subject: pair.subject, validTo: pair.validTo }, "TLS certificate reloaded");
    } catch (error) {
      log.error({ err: (error as Error).message }, "new TLS certificate or key not loaded; keeping the current pair");
    }
  };
  const options = { interval: files.pollIntervalMs, persistent: false };
  watchFile(files.certPath, options, reload);
  watchFile(files.keyPath, options, reload);
  return () => {
    unwatchFile(files.certPath, reload);
    unwatchFile(files.keyPath, reload);
  };
}

/**
 * `listener` behind a check that answers 403 `tls_required` to a request that did not arrive over TLS, before any
 * challenge is issued or credential read: directly on this listener, or per `X-Forwarded-Proto` from a proxy that
 * `trustProxy` trusts.
 */
export function requiringTls(listener: RequestListener, clients: ClientAddresses): RequestListener {
  return (req, res) => {
    if (clients.of(req).protocol === "https") {
      listener(req, res);
      return;
    }
    req.resume();
    sendJsonError(
      res,
      403,
      "tls_required",
      "this gateway takes requests over https only: an L402 credential is a bearer token and must not cross the " +
        "network in clear text",
    );
  };
}
