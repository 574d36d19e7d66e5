import type { z } from "zod";

export type ApiErrorType = "invalid_request_error" | "server_error" | "service_unavailable_error" | "not_found_error";

export interface ApiErrorBody {
  error: { message: string; type: ApiErrorType; param: string | null; code: string | null };
}

/** An error answered to the client in OpenAI's shape `{error:{message,type,param,code}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ApiErrorType = "invalid_request_error",
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toBody(): ApiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export function invalidRequest(message: string, param: string | null = null, code: string | null = null): ApiError {
  return new ApiError(400, message, "invalid_request_error", param, code);
}

export function fromZodError(error: z.ZodError): ApiError {
  const issue = error.issues[0];
  if (!issue) return invalidRequest("Invalid request body.");
  const param = issue.path.length > 0 ? issue.path.map(String).join(".") : null;
  if (issue.code === "invalid_type" && issue.input === undefined && param !== null) {
    return invalidRequest(`Missing required parameter: '${param}'.`, param, "missing_required_parameter");
  }
  const where = param === null ? "request body" : `'${param}'`;
  return invalidRequest(`Invalid value for ${where}: ${issue.message}`, param, issue.code);
}
