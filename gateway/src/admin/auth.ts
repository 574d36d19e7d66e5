import { createHash, timingSafeEqual } from "node:crypto";
import type { NextFunction, Request, Response } from "express";
import { sendJsonError } from "../http/errors.js";

const digest = (value: string) => createHash("sha256").update(value).digest();

/** Requires `Authorization: Bearer <secret>`; compares digests in constant time; 401 otherwise, every time. */
export function requireAdminSecret(secret: string) {
  const expected = digest(secret);
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.authorization ?? "";
    const match = /^Bearer ([^\s]+)$/i.exec(header);
    if (!match?.[1] || !timingSafeEqual(digest(match[1]), expected)) {
      sendJsonError(res, 401, "unauthorized", "admin credentials are missing or wrong", {
        "www-authenticate": 'Bearer realm="l402-admin"',
      });
      return;
    }
    next();
  };
}
