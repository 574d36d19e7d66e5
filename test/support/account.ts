import { expect } from "vitest";

/** A metered token's account as `GET /l402/balance` reports it. */
export interface Account {
  readonly charged_msat: number;
  readonly balance_msat: number;
  readonly reserved_msat: number;
  readonly credited_msat: number;
}

export async function accountOf(gatewayUrl: string, authorization: string): Promise<Account> {
  const res = await fetch(`${gatewayUrl}/l402/balance`, { headers: { authorization } });
  if (res.status !== 200) throw new Error(`GET /l402/balance answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Account;
}

/** The account once no reservation is open: every call made so far has been charged. */
export async function settledAccountOf(gatewayUrl: string, authorization: string): Promise<Account> {
  await expect
    .poll(async () => (await accountOf(gatewayUrl, authorization)).reserved_msat, { timeout: 30_000, interval: 10 })
    .toBe(0);
  return accountOf(gatewayUrl, authorization);
}
