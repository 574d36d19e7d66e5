import type { L402Client } from "../client.js";
import { createPaymentTools, type PaymentTool, type PaymentToolOptions } from "../tools/payment-tools.js";

/** The payment tools' options, and how their names start in an agent that also has tools of its own. */
export interface FrameworkToolOptions extends PaymentToolOptions {
  /** Put before each tool's name; default "l402_" (l402_fetch, l402_quote, ...). */
  readonly namePrefix?: string;
}

/** The payment tools under the names a framework offers them by. */
export function namedPaymentTools(client: L402Client, options: FrameworkToolOptions = {}): readonly PaymentTool[] {
  const { namePrefix = "l402_", ...toolOptions } = options;
  return createPaymentTools(client, toolOptions).map((tool) => ({ ...tool, name: `${namePrefix}${tool.name}` }));
}
