import type { ServerResponse } from "node:http";
import { sendJson } from "./json.js";

/** Every error the gateway answers itself is JSON `{ code, message }` with the right status. */
export function sendJsonError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { code, message }, { ...headers, "cache-control": "no-store" });
}
