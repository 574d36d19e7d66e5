import { createHmac } from "node:crypto";

/**
 * The HMAC secret of one service's Payment challenges, derived from the gateway's. A challenge id made with it binds
 * the service without an `opaque` parameter, which clients need not echo (Alby's lightning-tools 9 echoes only the
 * six required fields): a challenge issued for one service fails the HMAC check on any other.
 */
export function serviceSecret(gatewaySecret: Buffer, service: string): Buffer {
  return createHmac("sha256", gatewaySecret).update(`l402-gateway payment challenge, service ${service}`).digest();
}
