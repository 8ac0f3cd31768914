// Every route of the HTTP API, declared once with the schemas of its parameters, body and responses: the router
// serves this table and the OpenAPI document (openapi.ts) is generated from it, so neither can drift from the other.
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { fromZodError, invalid, type ErrorCode } from "../shared/errors.js";
import { unpackArchive, type ArchiveKind } from "../shared/archive.js";
import { HEADERS } from "../shared/headers.js";
import { LIMITS } from "../shared/limits.js";
import { DeleteFunctionResult, PutFunctionResult } from "../shared/schemas/controller-api.js";
import { FunctionDefinition, FunctionSpec, FunctionSummary } from "../shared/schemas/function.js";
import { HealthReport } from "../shared/schemas/health.js";
import { FunctionMetrics, InvocationAccepted, InvocationRecord, InvocationResult } from "../shared/schemas/invocation.js";
import type { ApiDocs } from "./api-docs.js";
import type { ControlPlane } from "./control-plane.js";
import type { Health } from "./health.js";
import { parseJson, readBody } from "./http-body.js";
import { AliasParams, ArchiveQuery, VersionParams, InvocationIdParams, InvokeQuery, ListQuery, MetricsQuery, NameParams, NoQuery, VersionQuery, queryValues } from "./http-params.js";
import type { CallerGone, Invoker } from "./invoker.js";
import { MAX_KEY_LENGTH, idempotencyKey } from "./idempotency.js";
import { executeRoute } from "./execute-route.js";
import type { Executor } from "./executor.js";
import { AliasList, AliasSpec, Alias, DeleteAliasResult, DeleteVersionResult } from "../shared/schemas/alias.js";
import { PROMETHEUS_CONTENT_TYPE, type FabricMetrics } from "./prometheus.js";

export interface RouteDeps {
  invoker: Invoker;
  plane: ControlPlane;
  health: Health;
  docs: ApiDocs;
  executor: Executor;
  metrics: FabricMetrics;
}

export interface Reply {
  status: number;
  /** Serialised as JSON, unless it is already bytes (a result object straight from the agent, a docs asset). */
  body: unknown;
  headers?: Record<string, string>;
}

/** A response as the document describes it: JSON of a schema unless another content type is named. */
export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
  contentType?: string;
  /** A second content type the same status answers with when asked (a live stream: text/event-stream). */
  streamContentType?: string;
  headers?: Record<string, string>;
}

export interface Route<P extends z.ZodObject = z.ZodObject, Q extends z.ZodObject = z.ZodObject> {
  method: "GET" | "PUT" | "POST" | "DELETE";
  /** OpenAPI's path syntax: /v1/functions/{name} */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  params: P;
  query: Q;
  /** Request headers the route reads (documented; a bad value is ignored, as W3C trace context asks). */
  headers?: z.ZodObject;
  /** The JSON body; `schema` undefined means any JSON value. */
  body?: { description: string; schema?: z.ZodType; maxBytes: number; example?: unknown };
  responses: Record<number, ResponseSpec>;
  /** The errors this route can answer besides 500 (documented from the one table in shared/errors.ts). */
  errors: ErrorCode[];
  handle(r: { params: z.infer<P>; query: z.infer<Q>; req: IncomingMessage; res: ServerResponse }): Promise<Reply>;
}

export const route = <P extends z.ZodObject, Q extends z.ZodObject>(r: Route<P, Q>): Route => r as unknown as Route;

/** Parses the path parameters and the query string with the route's schemas; a bad one is a 400 naming it. */
export function argumentsOf(r: Route, rawParams: Record<string, string>, query: URLSearchParams): { params: Record<string, unknown>; query: Record<string, unknown> } {
  const params = r.params.safeParse(rawParams);
  if (!params.success) throw fromZodError(params.error);
  const parsed = r.query.safeParse(queryValues(query, r.query));
  if (!parsed.success) throw fromZodError(parsed.error);
  return { params: params.data, query: parsed.data };
}

const TraceHeaders = z.object({
  traceparent: z.string().optional().describe("W3C trace context: the invocation's trace continues the caller's"),
});
const InvokeHeaders = TraceHeaders.extend({
  "idempotency-key": z.string().max(MAX_KEY_LENGTH).optional().describe(
    "Idempotency-Key: the same key for this function within 24 h answers the first call's invocation and never runs the handler again; with another event, 409 IDEMPOTENCY_MISMATCH",
  ),
});

/** An alias body is a version and a few weights. */
const ALIAS_BODY_BYTES = 4096;

const json = (description: string, schema: z.ZodType): ResponseSpec => ({ description, schema });
const invocationIdHeader = { [HEADERS.invocationId]: "the invocation's id" };
const EVENT_DOC =
  `The event: any JSON value, nested at most ${LIMITS.jsonDepth} levels deep (arrays and objects; deeper is 400 naming event). ` +
  "An empty body is the event {}.";

export function routeTable(d: RouteDeps): Route[] {
  const { plane } = d;
  return [
    route({
      method: "GET", path: "/healthz", operationId: "health", tag: "health", params: NoQuery, query: NoQuery,
      summary: "Whether the fabric can serve invocations",
      description: "200 when this gateway is serving, NATS is up, the function definitions are loaded and an agent is running; 503 otherwise, saying what is missing.",
      responses: { 200: json("ready", HealthReport), 503: json("not ready: `missing` says why", HealthReport) },
      errors: [],
      handle: async () => {
        const report = await d.health.report();
        return { status: report.status === "ok" ? 200 : 503, body: report };
      },
    }),
    route({
      method: "GET", path: "/v1/functions", operationId: "listFunctions", tag: "functions", params: NoQuery, query: NoQuery,
      summary: "List the functions (the latest version of each, without code)",
      responses: { 200: json("the functions", z.object({ functions: z.array(FunctionSummary) })) },
      errors: ["UNAVAILABLE"],
      handle: async () => ({ status: 200, body: { functions: await plane.listFunctions() } }),
    }),
    route({
      method: "PUT", path: "/v1/functions/{name}", operationId: "putFunction", tag: "functions", params: NameParams, query: ArchiveQuery,
      summary: "Create a function, or update it to a new version",
      description:
        "Every PUT makes a new, immutable version. Code that does not parse is refused with 400 and field code. " +
        "A bundle may also come as the body itself, a zip (content-type application/zip) or a tar.gz (application/gzip), " +
        "with the other fields in the query string (runtime, handler, isolation, timeoutMs, memoryMb, description).",
      body: {
        description: "the function",
        schema: FunctionSpec,
        maxBytes: LIMITS.functionBodyBytes,
        example: { runtime: "python3", code: 'def handler(event, context):\n    return {"hello": event.get("name")}\n', limits: { timeoutMs: 5000 } },
      },
      responses: { 201: json("created: version 1 of a new function", PutFunctionResult), 200: json("updated: a new version", PutFunctionResult) },
      errors: ["INVALID_ARGUMENT", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "CONFLICT", "UNAVAILABLE"],
      handle: async ({ params, query, req }) => {
        const archive = archiveKindOf(req.headers["content-type"]);
        const spec = archive
          ? specFromArchive(unpackArchive(archive, await readBody(req, LIMITS.archiveBytes, "body")), query)
          : specFromJson(parseJson(await readBody(req, LIMITS.functionBodyBytes, "body"), "body"), query);
        const result = await plane.putFunction(params.name, spec);
        return { status: result.created ? 201 : 200, body: result };
      },
    }),
    route({
      method: "GET", path: "/v1/functions/{name}", operationId: "getFunction", tag: "functions", params: NameParams, query: VersionQuery,
      summary: "Get a function's latest version, or the version named, with its code",
      responses: { 200: json("the version", FunctionDefinition) },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"],
      handle: async ({ params, query }) => ({ status: 200, body: await plane.getFunction(params.name, query.version) }),
    }),
    route({
      method: "DELETE", path: "/v1/functions/{name}", operationId: "deleteFunction", tag: "functions", params: NameParams, query: NoQuery,
      summary: "Delete a function",
      description: "New invocations stop at once; running ones finish; queued ones end with FUNCTION_DELETED.",
      responses: { 200: json("deleted", DeleteFunctionResult) },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "CONFLICT", "UNAVAILABLE"],
      handle: async ({ params }) => ({ status: 200, body: await plane.deleteFunction(params.name) }),
    }),
    route({
      method: "DELETE", path: "/v1/functions/{name}/versions/{version}", operationId: "deleteVersion", tag: "functions", params: VersionParams, query: NoQuery,
      summary: "Delete one version of a function",
      description: "The version answers 404 afterwards and its number is not used again. Refused with 409 while an alias can run it, and for the latest version.",
      responses: { 200: json("deleted", DeleteVersionResult) },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "CONFLICT", "UNAVAILABLE"],
      handle: async ({ params }) => ({ status: 200, body: await plane.deleteVersion(params.name, params.version) }),
    }),
    route({
      method: "GET", path: "/v1/functions/{name}/aliases", operationId: "listAliases", tag: "aliases", params: NameParams, query: NoQuery,
      summary: "A function's aliases",
      responses: { 200: json("the aliases", AliasList) },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"],
      handle: async ({ params }) => ({ status: 200, body: { aliases: await plane.listAliases(params.name) } }),
    }),
    route({
      method: "PUT", path: "/v1/functions/{name}/aliases/{alias}", operationId: "putAlias", tag: "aliases", params: AliasParams, query: NoQuery,
      summary: "Point an alias at a version, optionally sending a share of calls to other versions",
      description: "Creates the alias or moves it. Invoking with ?alias= runs its version, or a weighted one for that share of calls; the record says which version ran.",
      body: { description: "the alias", schema: AliasSpec, maxBytes: ALIAS_BODY_BYTES, example: { version: 3, weights: { "4": 0.1 } } },
      responses: { 200: json("the alias", Alias) },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "UNAVAILABLE"],
      handle: async ({ params, req }) => {
        const spec = parseJson(await readBody(req, ALIAS_BODY_BYTES, "body"), "body");
        return { status: 200, body: await plane.putAlias(params.name, params.alias, spec) };
      },
    }),
    route({
      method: "GET", path: "/v1/functions/{name}/aliases/{alias}", operationId: "getAlias", tag: "aliases", params: AliasParams, query: NoQuery,
      summary: "An alias",
      responses: { 200: json("the alias", Alias) },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"],
      handle: async ({ params }) => ({ status: 200, body: await plane.getAlias(params.name, params.alias) }),
    }),
    route({
      method: "DELETE", path: "/v1/functions/{name}/aliases/{alias}", operationId: "deleteAlias", tag: "aliases", params: AliasParams, query: NoQuery,
      summary: "Delete an alias",
      responses: { 200: json("deleted", DeleteAliasResult) },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"],
      handle: async ({ params }) => ({ status: 200, body: await plane.deleteAlias(params.name, params.alias) }),
    }),
    route({
      method: "POST", path: "/v1/functions/{name}/invoke", operationId: "invoke", tag: "invocations", params: NameParams, query: InvokeQuery,
      summary: "Invoke a function",
      description:
        "Synchronous by default: answers 200 with the result once the function has run (a handler that failed is still 200, " +
        "with status error, timeout or killed). A call that outlives the gateway's wait answers 202 with status running. " +
        "With async=true it answers 202 with status queued once the invocation is stored.",
      headers: InvokeHeaders,
      body: { description: EVENT_DOC, maxBytes: LIMITS.payloadBytes, example: { name: "weft" } },
      responses: {
        200: { ...json("the result", InvocationResult), headers: invocationIdHeader },
        202: { ...json("queued (async=true), or still running after the gateway's wait", InvocationAccepted), headers: invocationIdHeader },
      },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "IDEMPOTENCY_MISMATCH", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "RESOURCE_EXHAUSTED", "UNAVAILABLE"],
      handle: (r) => invoke(d, r),
    }),
    executeRoute(d.executor),
    route({
      method: "GET", path: "/v1/functions/{name}/invocations", operationId: "listInvocations", tag: "invocations", params: NameParams, query: ListQuery,
      summary: "The newest invocation records of a function, newest first",
      responses: { 200: json("the records", z.object({ invocations: z.array(InvocationRecord) })) },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"],
      handle: async ({ params, query }) => ({ status: 200, body: { invocations: await plane.listInvocations(params.name, query.limit) } }),
    }),
    route({
      method: "GET", path: "/v1/functions/{name}/metrics", operationId: "getMetrics", tag: "invocations", params: NameParams, query: MetricsQuery,
      summary: "Counts, errors, cold starts and duration percentiles of a function over a recent window",
      responses: { 200: json("the metrics", FunctionMetrics) },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"],
      handle: async ({ params, query }) => ({ status: 200, body: await plane.metrics(params.name, query.windowMs) }),
    }),
    route({
      method: "GET", path: "/v1/invocations/{id}", operationId: "getInvocation", tag: "invocations", params: InvocationIdParams, query: NoQuery,
      summary: "An invocation's record: queued, running, or how it ended",
      responses: { 200: json("the record", InvocationRecord) },
      errors: ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"],
      handle: async ({ params }) => ({ status: 200, body: await plane.getInvocation(params.id) }),
    }),
    route({
      method: "GET", path: "/metrics", operationId: "prometheusMetrics", tag: "health", params: NoQuery, query: NoQuery,
      summary: "The fabric's metrics in the Prometheus text format",
      description:
        "Invocations by function, status and isolation; handler durations; cold starts; queue depth; agent slots and containers; " +
        "NATS and MongoDB up; this gateway's process metrics. Each gateway covers the whole fabric (README, Metrics).",
      responses: { 200: { description: "the Prometheus text exposition format 0.0.4", contentType: "text/plain" } },
      errors: [],
      handle: async () => ({ status: 200, body: Buffer.from(await d.metrics.text()), headers: { "content-type": PROMETHEUS_CONTENT_TYPE } }),
    }),
    route({
      method: "GET", path: "/openapi.json", operationId: "openapi", tag: "docs", params: NoQuery, query: NoQuery,
      summary: "This document: the HTTP API as OpenAPI 3.1",
      responses: { 200: json("the OpenAPI document", z.looseObject({ openapi: z.string() })) },
      errors: [],
      handle: async () => ({ status: 200, body: d.docs.document() }),
    }),
    route({
      method: "GET", path: "/docs", operationId: "docs", tag: "docs", params: NoQuery, query: NoQuery,
      summary: "The API reference, rendered from this document",
      responses: { 200: { description: "an HTML page", contentType: "text/html" } },
      errors: [],
      handle: async () => d.docs.page(),
    }),
    route({
      method: "GET", path: "/docs/{asset}", operationId: "docsAsset", tag: "docs", params: d.docs.assetParams, query: NoQuery,
      summary: "A file of the API reference page (its renderer, bundled with the gateway)",
      responses: { 200: { description: "the file", contentType: "*/*" } },
      errors: ["NOT_FOUND"],
      handle: async ({ params }) => d.docs.asset(params.asset as string),
    }),
  ];
}

async function invoke(d: RouteDeps, { params, query, req, res }: Parameters<Route<typeof NameParams, typeof InvokeQuery>["handle"]>[0]): Promise<Reply> {
  const event = await readBody(req, LIMITS.payloadBytes, "event");
  const traceparent = req.headers.traceparent;
  const input = {
    name: params.name,
    event,
    version: query.version,
    alias: query.alias,
    via: "http" as const,
    traceparent: typeof traceparent === "string" ? traceparent : undefined,
    idempotencyKey: idempotencyKey(req.headers["idempotency-key"], "Idempotency-Key"),
  };
  if (query.async) {
    const accepted = await d.invoker.invokeAsync(input);
    return { status: 202, body: accepted, headers: { [HEADERS.invocationId]: accepted.invocationId } };
  }
  // A client that hangs up stops the wait (the invocation itself goes on and is recorded).
  const gone: CallerGone = (stop) => {
    const onClose = () => { if (!res.writableFinished) stop(); };
    res.once("close", onClose);
    return () => res.off("close", onClose);
  };
  const outcome = await d.invoker.invokeSync(input, gone);
  const headers = { [HEADERS.invocationId]: outcome.invocationId };
  if (outcome.kind === "result") return { status: 200, body: outcome.result, headers };
  return { status: 202, body: { invocationId: outcome.invocationId, status: "running" }, headers };
}

/** The archive a PUT body is, by its content type; undefined for JSON. */
function archiveKindOf(contentType: string | undefined): ArchiveKind | undefined {
  const type = contentType?.split(";")[0]?.trim().toLowerCase();
  if (type === "application/zip" || type === "application/x-zip-compressed") return "zip";
  if (type === "application/gzip" || type === "application/x-gzip" || type === "application/x-tar+gzip") return "tar.gz";
  return undefined;
}

/** A PUT's JSON body carries every field itself: the archive's query parameters would be ignored, so they are refused. */
function specFromJson(body: unknown, query: ArchiveQuery): unknown {
  const given = Object.entries(query).find(([, v]) => v !== undefined);
  if (given) throw invalid(given[0], "is a query parameter of an archive body (zip or tar.gz); a JSON body carries it itself");
  return body;
}

function specFromArchive(files: Map<string, Buffer>, q: ArchiveQuery): Record<string, unknown> {
  const limits = q.timeoutMs !== undefined || q.memoryMb !== undefined ? { ...(q.timeoutMs !== undefined ? { timeoutMs: q.timeoutMs } : {}), ...(q.memoryMb !== undefined ? { memoryMb: q.memoryMb } : {}) } : undefined;
  return {
    runtime: q.runtime,
    files: Object.fromEntries([...files].map(([path, bytes]) => [path, { base64: bytes.toString("base64") }])),
    ...(q.handler !== undefined ? { handler: q.handler } : {}),
    ...(q.isolation !== undefined ? { isolation: q.isolation } : {}),
    ...(q.description !== undefined ? { description: q.description } : {}),
    ...(limits ? { limits } : {}),
  };
}
