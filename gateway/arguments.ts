// Checks of the arguments gRPC requests (and the control plane) carry, each naming its field when it fails. HTTP
// paths and query strings are parsed by the schemas of http-params.ts; request bodies by the shared zod schemas.
import type { z } from "zod";
import { fromZodError, invalid } from "../shared/errors.js";
import { LIMITS } from "../shared/limits.js";
import { FunctionName, FunctionSpec } from "../shared/schemas/function.js";
import { AliasName } from "../shared/schemas/alias.js";
import { GetInvocationRequest, ListInvocationsRequest, MetricsRequest } from "../shared/schemas/controller-api.js";

const InvocationId = GetInvocationRequest.shape.invocationId;
const ListLimit = ListInvocationsRequest.shape.limit;
const WindowMs = MetricsRequest.shape.windowMs.unwrap();

function check<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw fromZodError(parsed.error, field);
  return parsed.data;
}

export const functionName = (value: unknown, field = "name"): string => {
  if (value === undefined || value === "") throw invalid(field, "is required");
  return check(FunctionName, value, field);
};

export const aliasName = (value: unknown, field = "alias"): string => {
  if (value === undefined || value === "") throw invalid(field, "is required");
  return check(AliasName, value, field);
};

/** An alias to run, when the caller named one (gRPC's unset string is ""). */
export const optionalAlias = (value: unknown, field = "alias"): string | undefined =>
  value === undefined || value === null || value === "" ? undefined : check(AliasName, value, field);

export const required = (field: string) => invalid(field, "is required");

export const invocationId = (value: unknown, field = "invocationId"): string => {
  if (value === undefined || value === "") throw invalid(field, "is required");
  return check(InvocationId, value, field);
};

export const version = (value: number | undefined, field = "version"): number | undefined => {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 1) throw invalid(field, "must be an integer ≥ 1");
  return value;
};

export const listLimit = (value: number | undefined, field = "limit"): number =>
  value === undefined ? LIMITS.listLimit.default : check(ListLimit, value, field);

export const windowMs = (value: number | undefined, field = "windowMs"): number | undefined =>
  value === undefined ? undefined : check(WindowMs, value, field);

/**
 * A function spec checked as the controller will check it, so a bad one fails fast and names its field (the
 * same names over HTTP and gRPC: "runtime", "limits.timeoutMs"). The spec goes on to the controller as sent:
 * the controller is authoritative and fills the defaults.
 */
export function functionSpec(name: string, spec: unknown): Record<string, unknown> {
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) throw invalid("body", "must be a JSON object");
  const body = spec as Record<string, unknown>;
  if (body.name !== undefined && body.name !== name) {
    throw invalid("name", `${JSON.stringify(body.name)} in the spec does not match ${JSON.stringify(name)}`);
  }
  const parsed = FunctionSpec.safeParse(body);
  if (!parsed.success) throw fromZodError(parsed.error);
  return body;
}
