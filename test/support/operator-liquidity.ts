import { type AuthenticatedLnd, createInvoice, getChannels, pay } from "lightning";

/**
 * Makes the operator's node able to pay `sats` back (session refunds): the regtest channel is bob's, so alice holds
 * only what she was paid, and LND never lets her balance go below the channel reserve (1% of the capacity). When she
 * is short, bob pays her the difference plus a margin; returns the sats moved (0 when none was needed).
 */
export async function ensureOperatorCanPay(
  operator: AuthenticatedLnd,
  payer: AuthenticatedLnd,
  sats: number,
): Promise<number> {
  const { channels } = await getChannels({ lnd: operator, is_active: true });
  const spendable = Math.max(0, ...channels.map((channel) => channel.local_balance - channel.local_reserve));
  if (spendable >= sats) return 0;
  const channel = channels[0];
  if (!channel) throw new Error("the operator's node has no active channel");
  const missing = sats - spendable + (channel.local_balance < channel.local_reserve ? channel.local_reserve : 0);
  const tokens = missing + 1_000;
  const invoice = await createInvoice({ lnd: operator, tokens, description: "liquidity for refunds (test setup)" });
  await pay({ lnd: payer, request: invoice.request });
  return tokens;
}
