// The `invoices` package (alexbosworth/invoices) ships no types: this declares only what the client uses.
declare module "invoices" {
  interface ParsedPaymentRequest {
    /** Final CLTV delta in blocks. */
    readonly cltv_delta?: number;
    /** Private route hints: each a path of hops, each hop with its own CLTV delta. */
    readonly routes?: readonly (readonly { readonly cltv_delta?: number }[])[];
    /** ISO 8601. */
    readonly created_at: string;
    readonly destination: string;
    /** ISO 8601. */
    readonly expires_at: string;
    /** Payment hash, hex. */
    readonly id: string;
    readonly is_expired: boolean;
    /** Millisatoshis as a decimal string; "0" or absent for an invoice without an amount. */
    readonly mtokens?: string;
    readonly network: string;
    readonly safe_tokens?: number;
    readonly tokens?: number;
  }
  const invoices: {
    /** Throws an Error for anything that is not a valid, correctly signed BOLT11 payment request. */
    parsePaymentRequest(args: { request: string }): ParsedPaymentRequest;
    /** Used by the tests to build invoices; `preimage` is what the signature covers (sha256 of it is `hash`). */
    createUnsignedRequest(args: {
      created_at?: string;
      description?: string;
      destination: string;
      expires_at?: string;
      features?: { bit: number }[];
      id: string;
      mtokens?: string;
      network: string;
      payment?: string;
      tokens?: number;
    }): { hash: string; hrp: string; preimage: string; tags: number[] };
    /** `signature` is the 64-byte compact signature, hex. */
    createSignedRequest(args: { destination: string; hrp: string; signature: string; tags: number[] }): {
      request: string;
    };
  };
  export default invoices;
}
