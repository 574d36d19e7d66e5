import type { IncomingMessage } from "node:http";
import { type CredentialHeaders, MACAROON_HEADERS, type MacaroonHeader } from "@l402-gateway/l402";

const isMacaroonHeader = (name: string): name is MacaroonHeader =>
  (MACAROON_HEADERS as readonly string[]).includes(name);

/**
 * Every header a credential may come in, each value as sent: Authorization, and Aperture's hex macaroon headers
 * (raw headers, because Node joins repeated unknown headers with ", ").
 */
export function credentialHeaders(req: IncomingMessage): CredentialHeaders {
  const authorization: string[] = [];
  const macaroonHeaders: Partial<Record<MacaroonHeader, string[]>> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]?.toLowerCase() ?? "";
    const value = req.rawHeaders[i + 1] ?? "";
    if (name === "authorization") authorization.push(value);
    else if (isMacaroonHeader(name)) macaroonHeaders[name] = [...(macaroonHeaders[name] ?? []), value];
  }
  return { authorization, macaroonHeaders };
}
