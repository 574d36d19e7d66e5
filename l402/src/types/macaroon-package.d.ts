// The `macaroon` npm package (go-macaroon/js-macaroon) ships no types: this declares only what l402 uses.
declare module "macaroon" {
  interface FirstPartyCaveat {
    readonly identifier: Uint8Array;
  }
  interface ThirdPartyCaveat {
    readonly identifier: Uint8Array;
    readonly location: string;
    readonly vid: Uint8Array;
  }
  interface Macaroon {
    readonly location: string;
    readonly identifier: Uint8Array;
    readonly signature: Uint8Array;
    readonly caveats: ReadonlyArray<FirstPartyCaveat | ThirdPartyCaveat>;
    addFirstPartyCaveat(condition: string | Uint8Array): void;
    clone(): Macaroon;
    /** Binary V2. Usable only for tests: 3.0.4 doubles its buffer per caveat, so l402 writes V2 itself. */
    exportBinary(): Uint8Array;
    /** Throws unless the HMAC chain from `rootKey` ends in the signature; `check` returns an error text or null. */
    verify(rootKey: Uint8Array, check: (condition: string) => string | null, discharges?: Macaroon[]): void;
  }
  interface MacaroonPackage {
    newMacaroon(params: {
      identifier: Uint8Array | string;
      location?: string;
      rootKey: Uint8Array;
      version?: 1 | 2;
    }): Macaroon;
    /** Binary V2 from a Uint8Array (V1 binary is not supported by the package); JSON from an object. */
    importMacaroon(data: Uint8Array): Macaroon;
  }
  const macaroonPackage: MacaroonPackage;
  export = macaroonPackage;
}
