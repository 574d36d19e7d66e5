/**
 * Why a credential was refused. The gateway puts the code in its 402 body, so each names one cause a client can act on.
 * `revoked` is decided by the gateway (root key deleted); this package never throws it.
 */
export type L402ErrorCode =
  | "missing"
  | "malformed"
  | "bad_signature"
  | "wrong_preimage"
  | "expired"
  | "revoked"
  | "wrong_service"
  | "missing_capability"
  | "unknown_caveat"
  | "widened_caveat"
  | "unsupported_version";

/**
 * The one error shape of the L402 packages (this core and the agent client): a code from a closed union, a message
 * for people, and the cause when there is one. Callers switch on `code`, never on the message.
 */
export class CodedError<Code extends string> extends Error {
  constructor(
    readonly code: Code,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export class L402Error extends CodedError<L402ErrorCode> {
  override readonly name = "L402Error";
}

/**
 * Runs `fn`, turning anything but an L402Error into one with `code`, so that code decoding untrusted input (base64,
 * the macaroon package, TextDecoder) cannot leak a TypeError or RangeError to the caller.
 */
export function asL402Error<T>(code: L402ErrorCode, message: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw toL402Error(error, code, message);
  }
}

/** `error` itself when it is an L402Error, else one with `code` that names it as its cause (see asL402Error). */
export function toL402Error(error: unknown, code: L402ErrorCode, message: string): L402Error {
  if (error instanceof L402Error) return error;
  const detail = error instanceof Error ? `: ${error.message}` : "";
  return new L402Error(code, `${message}${detail}`, { cause: error });
}
