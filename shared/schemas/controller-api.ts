// Requests the gateway sends to the controller over NATS (request-reply on weft.ctl.*), and the reply envelope.
import { z } from "zod";
import type { ErrorBody } from "../errors.js";
import { LIMITS } from "../limits.js";
import { AliasName } from "./alias.js";
import { FunctionName, FunctionSummary } from "./function.js";
import { STATUSES, type InvocationRecord } from "./invocation.js";

export const PutFunctionRequest = z.object({ name: FunctionName, spec: z.unknown() });
export const GetFunctionRequest = z.object({ name: FunctionName, version: z.number().int().min(1).optional() });
export const ListFunctionsRequest = z.object({});
export const DeleteFunctionRequest = z.object({ name: FunctionName });
export const MetricsRequest = z.object({
  name: FunctionName,
  windowMs: z.number().int().min(1000).max(30 * 24 * 3600_000).optional(),
});
export const GetInvocationRequest = z.object({ invocationId: z.string().min(1).max(128) });
export const ListInvocationsRequest = z.object({
  name: FunctionName,
  limit: z.number().int().min(1).max(LIMITS.listLimit.max).default(LIMITS.listLimit.default),
});

/** The history across functions (or of one), filtered and paged: see shared/schemas/invocation-list.ts. */
export const QueryInvocationsRequest = z.object({
  name: FunctionName.optional(),
  status: z.enum(STATUSES).optional(),
  limit: z.number().int().min(1).max(LIMITS.listLimit.max).default(LIMITS.listLimit.default),
  before: z.object({ at: z.number(), id: z.string().min(1).max(128).optional() }).optional(),
  since: z.number().optional(),
});
export const FunctionVersionsRequest = z.object({ name: FunctionName });
/** Metrics over time of one function, or of the whole fabric when `name` is absent. */
export const MetricsSeriesRequest = z.object({
  name: FunctionName.optional(),
  windowMs: z.number().int().min(60_000).max(30 * 24 * 3600_000).optional(),
});

export type ControllerReply<T> = { ok: true; result: T } | { ok: false; error: ErrorBody };

/** Results of the controller operations whose shape is not a schema of its own. */
export type PutFunctionResult = FunctionSummary & { created: boolean };
export const PutFunctionResult = FunctionSummary.extend({ created: z.boolean().describe("true for version 1 of a new function") });
export interface DeleteFunctionResult {
  name: string;
  deleted: true;
}
export const DeleteFunctionResult = z.object({ name: FunctionName, deleted: z.literal(true) });
export type QueryInvocationsInput = z.input<typeof QueryInvocationsRequest>;
export interface QueryInvocationsResult {
  invocations: InvocationRecord[];
  /** Where the next page starts (newest first: enqueued before `at`, or at `at` with a smaller id). */
  next?: { at: number; id: string };
}
export interface HealthResult {
  mongo: "ok" | "unavailable";
}

/** Aliases and single versions (controller ops aliases.* and versions.delete); the alias body is checked by the controller. */
export const PutAliasRequest = z.object({ name: FunctionName, alias: AliasName, spec: z.unknown() });
export const AliasRequest = z.object({ name: FunctionName, alias: AliasName });
export const ListAliasesRequest = z.object({ name: FunctionName });
export const DeleteVersionRequest = z.object({ name: FunctionName, version: z.number().int().min(1) });
