// The `invoices` package (alexbosworth/invoices) ships no types: only what the gateway reads of a refund invoice.
declare module "invoices" {
  const invoices: {
    /** Throws for anything that is not a valid, correctly signed BOLT11 payment request. */
    parsePaymentRequest(args: { request: string }): Record<string, unknown>;
  };
  export default invoices;
}
