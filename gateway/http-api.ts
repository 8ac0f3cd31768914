// The HTTP API (node:http, JSON everywhere): routes of the brief, errors as {"error": {code, message, field?}}.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { asWeftError, type WeftError } from "../shared/errors.js";
import { HEADERS } from "../shared/headers.js";
import { LIMITS } from "../shared/limits.js";
import type { Logger } from "../shared/logger.js";
import * as args from "./arguments.js";
import type { ControlPlane } from "./control-plane.js";
import type { Health } from "./health.js";
import { BodyAbandoned, parseJson, readBody } from "./http-body.js";
import { MethodNotAllowed, Router, type Params } from "./http-router.js";
import type { Invoker } from "./invoker.js";

export interface HttpDeps {
  invoker: Invoker;
  plane: ControlPlane;
  health: Health;
  log: Logger;
}

interface Incoming {
  req: IncomingMessage;
  res: ServerResponse;
  params: Params;
  query: URLSearchParams;
}

interface Reply {
  status: number;
  /** Serialised as JSON, unless it is already JSON bytes (a result object straight from the agent). */
  body: unknown;
  headers?: Record<string, string>;
}

type Handler = (r: Incoming) => Promise<Reply>;

export interface HttpApi {
  readonly port: number;
  /** Stops accepting connections; requests in progress go on. */
  stopAccepting(): void;
  /** Closes every connection left (after the drain). */
  closeConnections(): void;
}

export async function startHttpApi(host: string, port: number, deps: HttpDeps): Promise<HttpApi> {
  const router = routes(deps);
  const server = createServer((req, res) => void serve(router, req, res, deps.log));
  // Clients keep connections alive between calls; a sync call may wait up to its function's timeout.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.listen(port, host);
  await Promise.race([once(server, "listening"), once(server, "error").then(([err]) => Promise.reject(err))]);
  server.on("error", (err) => deps.log.error({ err }, "HTTP server error"));
  return {
    port: (server.address() as AddressInfo).port,
    stopAccepting: () => {
      server.close();
      server.closeIdleConnections();
    },
    closeConnections: () => server.closeAllConnections(),
  };
}

function routes(d: HttpDeps): Router<Handler> {
  const { plane } = d;
  return new Router<Handler>()
    .add("GET", "/healthz", async () => {
      const report = await d.health.report();
      return { status: report.status === "ok" ? 200 : 503, body: report };
    })
    .add("GET", "/v1/functions", async () => ({ status: 200, body: { functions: await plane.listFunctions() } }))
    .add("PUT", "/v1/functions/:name", async ({ req, params }) => {
      const name = args.functionName(params.name);
      const spec = parseJson(await readBody(req, LIMITS.functionBodyBytes, "body"), "body");
      const result = await plane.putFunction(name, spec);
      return { status: result.created ? 201 : 200, body: result };
    })
    .add("GET", "/v1/functions/:name", async ({ params, query }) => ({
      status: 200,
      body: await plane.getFunction(params.name, args.queryInt(query, "version")),
    }))
    .add("DELETE", "/v1/functions/:name", async ({ params }) => ({ status: 200, body: await plane.deleteFunction(params.name) }))
    .add("POST", "/v1/functions/:name/invoke", (r) => invoke(d, r))
    .add("GET", "/v1/functions/:name/invocations", async ({ params, query }) => ({
      status: 200,
      body: { invocations: await plane.listInvocations(params.name, args.queryInt(query, "limit")) },
    }))
    .add("GET", "/v1/functions/:name/metrics", async ({ params, query }) => ({
      status: 200,
      body: await plane.metrics(params.name, args.queryInt(query, "windowMs")),
    }))
    .add("GET", "/v1/invocations/:id", async ({ params }) => ({
      status: 200,
      body: await plane.getInvocation(args.invocationId(params.id, "id")),
    }));
}

async function invoke(d: HttpDeps, { req, res, params, query }: Incoming): Promise<Reply> {
  const name = args.functionName(params.name);
  const async = args.queryFlag(query, "async");
  const version = args.version(args.queryInt(query, "version"));
  const event = await readBody(req, LIMITS.payloadBytes, "event");
  const traceparent = req.headers.traceparent;
  const input = { name, event, version, via: "http" as const, traceparent: typeof traceparent === "string" ? traceparent : undefined };
  if (async) {
    const accepted = await d.invoker.invokeAsync(input);
    return { status: 202, body: accepted, headers: { [HEADERS.invocationId]: accepted.invocationId } };
  }
  // A client that hangs up stops the wait (the invocation itself goes on and is recorded).
  const gone = new AbortController();
  const onClose = () => { if (!res.writableFinished) gone.abort(); };
  res.once("close", onClose);
  const outcome = await d.invoker.invokeSync(input, gone.signal);
  res.off("close", onClose);
  const headers = { [HEADERS.invocationId]: outcome.invocationId };
  if (outcome.kind === "result") return { status: 200, body: outcome.result, headers };
  return { status: 202, body: { invocationId: outcome.invocationId, status: "running" }, headers };
}

async function serve(router: Router<Handler>, req: IncomingMessage, res: ServerResponse, log: Logger): Promise<void> {
  try {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const { handler, params } = router.match(req.method ?? "GET", q < 0 ? url : url.slice(0, q));
    const reply = await handler({ req, res, params, query: new URLSearchParams(q < 0 ? "" : url.slice(q + 1)) });
    send(res, reply.status, reply.body, reply.headers);
  } catch (err) {
    sendError(res, asWeftError(err), req, log);
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  if (res.headersSent || res.destroyed) return;
  const payload = body instanceof Uint8Array ? body : JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": typeof payload === "string" ? Buffer.byteLength(payload) : payload.byteLength,
  });
  res.end(payload);
}

function sendError(res: ServerResponse, err: WeftError, req: IncomingMessage, log: Logger): void {
  if (err.code === "INTERNAL") log.error({ err: err.cause ?? err, method: req.method, url: req.url }, "unexpected error in the HTTP API");
  const headers: Record<string, string> = {};
  if (err instanceof MethodNotAllowed) headers.allow = err.allowed.join(", ");
  // The rest of an over-limit body is never read, so this connection cannot carry another request.
  if (err instanceof BodyAbandoned) headers.connection = "close";
  send(res, err.httpStatus, { error: err.toBody() }, headers);
}
