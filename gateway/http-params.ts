// The path and query parameters of the HTTP API as zod schemas: the gateway validates requests with them and the
// OpenAPI document is generated from them. Ranges come from the shared request schemas; only the query-string form
// (digits, true/false) is added here.
import { z } from "zod";
import { LIMITS } from "../shared/limits.js";
import { GetFunctionRequest, GetInvocationRequest, ListInvocationsRequest, MetricsRequest } from "../shared/schemas/controller-api.js";
import { FunctionName } from "../shared/schemas/function.js";
import { AliasName } from "../shared/schemas/alias.js";

/** Plain decimal digits only: no sign, exponent, spaces or hex, so "1e3" and "-1" are refused, not reinterpreted. */
const digits = (then: z.ZodType<number, number>) =>
  z.string().regex(/^\d{1,20}$/, "must be a whole number").transform(Number).pipe(then);

/** A query-string flag: absent, "false" or "0" is false; present and empty, "true" or "1" is true. */
const flag = z
  .enum(["", "true", "1", "false", "0"], "must be true or false")
  .transform((v) => v === "" || v === "true" || v === "1")
  .pipe(z.boolean());

export const NameParams = z.object({ name: FunctionName.describe("the function's name") });
export const InvocationIdParams = z.object({ id: GetInvocationRequest.shape.invocationId.describe("the invocation's id") });

export const VersionQuery = z.object({
  version: digits(GetFunctionRequest.shape.version.unwrap()).optional().describe("a version of the function; unset: the latest"),
});
export const InvokeQuery = z.object({
  async: flag.optional().describe("answer 202 once the invocation is queued, instead of waiting for its result"),
  version: VersionQuery.shape.version.describe("run this version; unset: the latest"),
  alias: AliasName.optional().describe("run the version this alias points to (split by its weights); not with version"),
});
export const AliasParams = z.object({ name: NameParams.shape.name, alias: AliasName.describe("the alias") });
export const VersionParams = z.object({
  name: NameParams.shape.name,
  version: digits(GetFunctionRequest.shape.version.unwrap()).describe("the version"),
});
export const ListQuery = z.object({
  limit: digits(ListInvocationsRequest.shape.limit.unwrap()).optional().describe(`how many of the newest records (default ${LIMITS.listLimit.default})`),
});
export const MetricsQuery = z.object({
  windowMs: digits(MetricsRequest.shape.windowMs.unwrap()).optional().describe("the window the metrics cover, up to now (default: WEFT_METRICS_WINDOW_MS)"),
});
export const NoQuery = z.object({});

/**
 * PUT /v1/functions/{name} with a zip or tar.gz body: the fields a JSON body would carry besides the files (the
 * controller checks them as it checks a JSON body). Refused with a JSON body, which carries them itself.
 */
export const ArchiveQuery = z.object({
  runtime: z.string().max(64).optional().describe("with an archive body: the runtime (required then)"),
  handler: z.string().max(256).optional().describe("with an archive body: module.function, e.g. app.handler"),
  isolation: z.string().max(16).optional().describe("with an archive body: runc or gvisor"),
  timeoutMs: digits(z.number()).optional().describe("with an archive body: limits.timeoutMs"),
  memoryMb: digits(z.number()).optional().describe("with an archive body: limits.memoryMb"),
  description: z.string().max(1024).optional().describe("with an archive body: the description"),
});
export type ArchiveQuery = z.infer<typeof ArchiveQuery>;

/** The values of `schema`'s keys in the query string (the first of each, as URLSearchParams.get gives). */
export function queryValues(query: URLSearchParams, schema: z.ZodObject): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) out[key] = query.get(key) ?? undefined;
  return out;
}
