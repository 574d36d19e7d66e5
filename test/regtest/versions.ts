/**
 * Pinned versions of the Go-built Lightning stack.
 *
 * LND is the newest release the `lightning` npm package 11.x supports (0.20.1).
 * btcd is its newest tagged release that LND's btcd backend is tested against.
 */
export interface GoBinarySpec {
  /** Name of the produced executable. */
  readonly name: string;
  /** Go module that is downloaded from the module proxy. */
  readonly module: string;
  readonly version: string;
  /** Package path inside the module, `.` for the module root. */
  readonly pkg: string;
  readonly tags: readonly string[];
  /** Files of the module replaced for the build: path in the module → Go source. */
  readonly replacedFiles?: Readonly<Record<string, string>>;
}

export const BTCD_VERSION = "v0.24.2";
export const LND_VERSION = "v0.20.1-beta";

export const LND_BUILD_TAGS = ["signrpc", "walletrpc", "chainrpc", "invoicesrpc", "routerrpc", "peersrpc"] as const;

export const GO_BINARIES = {
  btcd: { name: "btcd", module: "github.com/btcsuite/btcd", version: BTCD_VERSION, pkg: ".", tags: [] },
  btcctl: { name: "btcctl", module: "github.com/btcsuite/btcd", version: BTCD_VERSION, pkg: "./cmd/btcctl", tags: [] },
  lnd: {
    name: "lnd",
    module: "github.com/lightningnetwork/lnd",
    version: LND_VERSION,
    pkg: "./cmd/lnd",
    tags: LND_BUILD_TAGS,
  },
  lncli: {
    name: "lncli",
    module: "github.com/lightningnetwork/lnd",
    version: LND_VERSION,
    pkg: "./cmd/lncli",
    tags: LND_BUILD_TAGS,
  },
} as const satisfies Record<string, GoBinarySpec>;

export type GoBinaryName = keyof typeof GO_BINARIES;
