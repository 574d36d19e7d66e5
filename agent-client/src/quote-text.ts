import type { PriceQuote } from "./errors.js";

/** What a quote buys, for messages: "one call (Payment charge)", "weather (L402)", ... */
export function describeScheme(quote: PriceQuote): string {
  switch (quote.scheme) {
    case "charge":
      return "one call (Payment charge)";
    case "session":
      return "a session deposit (Payment session)";
    case "topUp":
      return "a session top-up (Payment session)";
    default:
      return `${quote.service || "access"} (L402)`;
  }
}
