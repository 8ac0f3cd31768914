// The OpenAPI 3.1 document of the HTTP API, generated from the route table (http-routes.ts) and the same zod schemas
// that validate requests, with zod's own JSON Schema output (draft 2020-12, OpenAPI 3.1's dialect).
import { z } from "zod";
import { ERROR_CODES, type ErrorCode } from "../shared/errors.js";
import { DeleteFunctionResult, PutFunctionResult } from "../shared/schemas/controller-api.js";
import { errorResponse, ErrorBody } from "../shared/schemas/error.js";
import { FunctionDefinition, FunctionSpec, FunctionSummary, Limits } from "../shared/schemas/function.js";
import { HealthReport, KnownAgent } from "../shared/schemas/health.js";
import { FunctionMetrics, InvocationAccepted, InvocationError, InvocationRecord, InvocationResult } from "../shared/schemas/invocation.js";
import type { Route } from "./http-routes.js";

type JsonSchema = Record<string, unknown>;

/** Shapes worth a name of their own in components.schemas (the rest are named after the operation using them). */
const NAMED_OUTPUTS: Array<[z.ZodType, string]> = [
  [FunctionDefinition, "FunctionDefinition"],
  [FunctionSummary, "FunctionSummary"],
  [Limits, "Limits"],
  [PutFunctionResult, "PutFunctionResult"],
  [DeleteFunctionResult, "DeleteFunctionResult"],
  [InvocationResult, "InvocationResult"],
  [InvocationError, "InvocationError"],
  [InvocationAccepted, "InvocationAccepted"],
  [InvocationRecord, "InvocationRecord"],
  [FunctionMetrics, "FunctionMetrics"],
  [HealthReport, "HealthReport"],
  [KnownAgent, "KnownAgent"],
  [ErrorBody, "ErrorBody"],
];
const NAMED_INPUTS: Array<[z.ZodType, string]> = [[FunctionSpec, "FunctionSpec"]];

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const pascal = (s: string) => s.replace(/(^|_)([a-z])/gi, (_m, _u, c: string) => c.toUpperCase()).replace(/_/g, "");
const errorSchemaName = (code: ErrorCode) => `${pascal(code.toLowerCase())}Error`;

export interface DocumentInfo {
  title: string;
  version: string;
  description: string;
}

export function openApiDocument(routes: Route[], info: DocumentInfo): Record<string, unknown> {
  const outputs = new Registry(NAMED_OUTPUTS);
  const inputs = new Registry(NAMED_INPUTS);
  const codes = Object.keys(ERROR_CODES) as ErrorCode[];
  for (const code of codes) outputs.add(errorResponse(code), errorSchemaName(code));

  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    (paths[r.path] ??= {})[r.method.toLowerCase()] = operation(r, inputs, outputs);
  }
  return {
    openapi: "3.1.0",
    info,
    tags: [
      { name: "functions", description: "Deploy, read and delete functions; every PUT makes a new immutable version." },
      { name: "invocations", description: "Run functions and read what their invocations did." },
      { name: "health", description: "Readiness of the fabric." },
      { name: "docs", description: "This document and the page that renders it." },
    ],
    paths,
    components: {
      schemas: { ...outputs.schemas("output"), ...inputs.schemas("input") },
      responses: Object.fromEntries(
        codes.map((code) => [code, { description: `${code}: ${ERROR_CODES[code].doc}`, content: { "application/json": { schema: ref(errorSchemaName(code)) } } }]),
      ),
    },
  };
}

function operation(r: Route, inputs: Registry, outputs: Registry): Record<string, unknown> {
  const op: Record<string, unknown> = {
    operationId: r.operationId,
    tags: [r.tag],
    summary: r.summary,
    ...(r.description ? { description: r.description } : {}),
  };
  const parameters = [...parametersOf(r.params, "path"), ...parametersOf(r.query, "query"), ...(r.headers ? parametersOf(r.headers, "header") : [])];
  if (parameters.length) op.parameters = parameters;
  if (r.body) {
    const schema = r.body.schema ? ref(inputs.add(r.body.schema, `${pascal(r.operationId)}Body`)) : {};
    const media = { schema, ...(r.body.example !== undefined ? { example: r.body.example } : {}) };
    op.requestBody = { description: `${r.body.description} At most ${r.body.maxBytes} bytes.`, required: r.body.schema !== undefined, content: { "application/json": media } };
  }
  const responses: Record<string, unknown> = {};
  for (const [status, spec] of Object.entries(r.responses)) {
    const content = spec.schema
      ? { [spec.contentType ?? "application/json"]: { schema: ref(outputs.add(spec.schema, `${pascal(r.operationId)}${status}`)) } }
      : { [spec.contentType ?? "application/octet-stream"]: {} };
    if (spec.streamContentType) Object.assign(content, { [spec.streamContentType]: {} });
    const headers = spec.headers
      ? Object.fromEntries(Object.entries(spec.headers).map(([name, description]) => [name, { description, schema: { type: "string" } }]))
      : undefined;
    responses[status] = { description: spec.description, content, ...(headers ? { headers } : {}) };
  }
  for (const code of [...r.errors, "INTERNAL" as const]) responses[String(ERROR_CODES[code].http)] = { $ref: `#/components/responses/${code}` };
  op.responses = responses;
  return op;
}

/** Path or query parameters from the route's zod object, as the gateway parses them (their output side). */
function parametersOf(schema: z.ZodObject, where: "path" | "query" | "header"): unknown[] {
  const json = clean(z.toJSONSchema(schema, { io: "output" }));
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, { description, ...rest }]) => ({
    name,
    in: where,
    required: where === "path" || required.has(name),
    ...(description ? { description } : {}),
    schema: rest,
  }));
}

/** Schemas given a component name, generated together so that they refer to each other by $ref. */
class Registry {
  private readonly registry = z.registry<{ id: string }>();
  private readonly names = new Map<z.ZodType, string>();

  constructor(named: Array<[z.ZodType, string]>) {
    for (const [schema, name] of named) this.add(schema, name);
  }

  /** The schema's component name: the one it was given first, else `name`. */
  add(schema: z.ZodType, name: string): string {
    const known = this.names.get(schema);
    if (known) return known;
    this.names.set(schema, name);
    this.registry.add(schema, { id: name });
    return name;
  }

  schemas(io: "input" | "output"): Record<string, JsonSchema> {
    const generated = z.toJSONSchema(this.registry, { io, uri: (id) => `#/components/schemas/${id}` }) as { schemas: Record<string, JsonSchema> };
    return Object.fromEntries(Object.entries(generated.schemas).map(([name, s]) => [name, clean(s)]));
  }
}

/** zod marks each generated schema as a document of its own; inside an OpenAPI document they are not. */
function clean(schema: unknown): JsonSchema {
  const { $schema: _s, $id: _i, ...rest } = schema as JsonSchema;
  return rest;
}
