// Checks of the arguments HTTP paths, query strings and gRPC requests carry, each naming its field when it fails.
// The request bodies themselves are checked by the shared zod schemas.
import type { z } from "zod";
import { fromZodError, invalid } from "../shared/errors.js";
import { LIMITS } from "../shared/limits.js";
import { FunctionName, FunctionSpec } from "../shared/schemas/function.js";
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

/** A query-string integer: absent is undefined, anything but digits is refused (no "1e3", no "-1"). */
export function queryInt(query: URLSearchParams, field: string): number | undefined {
  const raw = query.get(field);
  if (raw === null) return undefined;
  if (!/^\d{1,15}$/.test(raw)) throw invalid(field, `must be a whole number, got ${JSON.stringify(raw.slice(0, 40))}`);
  return Number(raw);
}

/** A query-string flag: absent or "false"/"0" is false; present empty, "true" or "1" is true. */
export function queryFlag(query: URLSearchParams, field: string): boolean {
  const raw = query.get(field);
  if (raw === null || raw === "false" || raw === "0") return false;
  if (raw === "" || raw === "true" || raw === "1") return true;
  throw invalid(field, `must be true or false, got ${JSON.stringify(raw.slice(0, 40))}`);
}

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
