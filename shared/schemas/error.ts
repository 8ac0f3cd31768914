// The wire form of an API error, `{"error": {code, message, field?}}`, as a schema: the OpenAPI document describes
// every error response with it. The codes and their HTTP statuses come from the one table in shared/errors.ts.
import { z } from "zod";
import { ERROR_CODES, type ErrorBody as ErrorBodyType, type ErrorCode } from "../errors.js";

export const ERROR_CODE_NAMES = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

export const ErrorBody = z.object({
  code: z.enum(ERROR_CODE_NAMES).describe("stable: clients branch on it"),
  message: z.string(),
  field: z.string().optional().describe("the request field at fault, when there is one (e.g. runtime, limits.timeoutMs, event)"),
  invocationId: z
    .string()
    .optional()
    .describe("on a 503 whose invocation may have been accepted all the same: look it up (GET /v1/invocations/{id}) before retrying"),
});

/** What an API error answers, with its code fixed (each HTTP status has exactly one code). */
export const errorResponse = (code: ErrorCode) => z.object({ error: ErrorBody.extend({ code: z.literal(code) }) });

/** Compile-time check that the schema and the ErrorBody type of shared/errors.ts are one shape. */
export type ErrorBodyMatches = z.infer<typeof ErrorBody> extends ErrorBodyType ? (ErrorBodyType extends z.infer<typeof ErrorBody> ? true : false) : false;
