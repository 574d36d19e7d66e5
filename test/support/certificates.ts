import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";

/** Why TLS tests cannot run here, or undefined when the `openssl` command is available. */
export function opensslMissing(): string | undefined {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return undefined;
  } catch {
    return "the openssl command is not installed: TLS tests need it to make their CA and certificates";
  }
}

export interface IssuedCertificate {
  readonly certPath: string;
  readonly keyPath: string;
  /** SHA-256 fingerprint, as a peer certificate's `fingerprint256`. */
  readonly fingerprint: string;
}

export interface TestCa {
  /** The CA certificate, PEM: what a client trusts. */
  readonly pem: string;
  readonly pemPath: string;
  /** A server certificate for 127.0.0.1 and localhost, signed by this CA, with a fresh key. */
  issue(name: string): IssuedCertificate;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A throw-away certificate authority in a temporary folder, made with the openssl command. */
export function createTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "l402-tls-"));
  openssl(
    ["req", "-x509", ...EC_KEY, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=L402 test CA"],
    dir,
  );
  writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n");
  const pemPath = join(dir, "ca.pem");
  return {
    pem: readFileSync(pemPath, "utf8"),
    pemPath,
    issue(name) {
      openssl(["req", ...EC_KEY, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`], dir);
      openssl(
        ["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"].concat([
          "-out",
          `${name}.pem`,
          "-days",
          "2",
          "-extfile",
          "server.ext",
        ]),
        dir,
      );
      const certPath = join(dir, `${name}.pem`);
      return {
        certPath,
        keyPath: join(dir, `${name}.key`),
        fingerprint: new X509Certificate(readFileSync(certPath)).fingerprint256,
      };
    },
  };
}

/** Replaces a file the way deployment tools do: a new file renamed over the old one. */
export function replaceFile(from: string, to: string): void {
  copyFileSync(from, `${to}.new`);
  renameSync(`${to}.new`, to);
}

/** The fingerprint of the certificate a TLS server at `url` presents to a new connection. */
export function servedFingerprint(url: string, ca: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca }, () => {
      resolvePromise(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on("error", reject);
  });
}
