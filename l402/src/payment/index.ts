export { decodeBase64Url, encodeBase64Url } from "./base64url.js";
export { type BoundChallengeFields, bindChallengeId, isBoundChallenge } from "./binding.js";
export {
  type BuildPaymentChallengeOptions,
  buildPaymentChallenge,
  formatExpires,
  formatPaymentChallenge,
  PAYMENT_SCHEME,
  type PaymentChallenge,
  parseExpires,
  parsePaymentChallenges,
  toPaymentChallenge,
} from "./challenge.js";
export {
  decodePaymentCredential,
  formatPaymentAuthorization,
  formatPaymentCredential,
  MAX_PAYMENT_TOKEN_LENGTH,
  type PaymentCredential,
  parsePaymentAuthorization,
} from "./credential.js";
export { asPaymentError, PaymentError, type PaymentProblemType, PROBLEM_TYPE_BASE } from "./errors.js";
export { canonicalExactJson, parseExactJson } from "./exact-json.js";
export { canonicalJson } from "./jcs.js";
export {
  decodePaymentRequest,
  encodePaymentRequest,
  hash32Hex,
  LIGHTNING_METHOD,
  type LightningChargePayload,
  type LightningChargeRequest,
  type LightningSessionPayload,
  type LightningSessionRequest,
  lightningChargePayloadSchema,
  lightningChargeRequestSchema,
  lightningSessionPayloadSchema,
  lightningSessionRequestSchema,
  parsePaymentPayload,
  preimageHex,
  satsString,
} from "./lightning.js";
export { type PaymentProblem, PROBLEM_CONTENT_TYPE, paymentProblem, problemStatus } from "./problem.js";
export {
  type ExactPaymentReceipt,
  formatPaymentReceipt,
  INT64_MAX,
  PAYMENT_RECEIPT_HEADER,
  type PaymentReceipt,
  parseExactPaymentReceipt,
  parsePaymentReceipt,
  type RefundStatus,
} from "./receipt.js";
export {
  formatSessionNeedTopUp,
  formatStreamPaymentReceipt,
  PAYMENT_NEED_TOPUP_EVENT,
  PAYMENT_RECEIPT_EVENT,
  parseSessionNeedTopUp,
  parseStreamPaymentReceipt,
  SESSION_TIMEOUT_EVENT,
  type SessionNeedTopUp,
  type StreamPaymentReceipt,
} from "./session-events.js";
