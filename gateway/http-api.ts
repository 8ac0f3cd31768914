// The HTTP API (node:http, JSON everywhere): the routes of http-routes.ts, errors as {"error": {code, message, field?}}.
import { BUILD_RETRY_AFTER_S } from "./invoker.js";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { WeftError, asWeftError } from "../shared/errors.js";
import type { Logger } from "../shared/logger.js";
import { ApiDocs } from "./api-docs.js";
import type { ControlPlane } from "./control-plane.js";
import type { Health } from "./health.js";
import { BodyAbandoned } from "./http-body.js";
import { MethodNotAllowed, Router } from "./http-router.js";
import { argumentsOf, routeTable, type Route } from "./http-routes.js";
import { Overloaded, type Invoker } from "./invoker.js";
import type { Executor } from "./executor.js";
import type { FabricMetrics } from "./prometheus.js";

export interface HttpDeps {
  invoker: Invoker;
  executor: Executor;
  plane: ControlPlane;
  health: Health;
  metrics: FabricMetrics;
  log: Logger;
  /** Routes declared in files of their own (agents, history, versions, metrics series), served and documented too. */
  moreRoutes?: Route[];
  /** Answers a GET no route matches (the web console's files); false leaves it a 404. */
  fallback?: Fallback;
}

export type Fallback = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean>;

export interface HttpApi {
  readonly port: number;
  /** Every method and path the server routes (what the OpenAPI document must describe). */
  readonly routes: Array<{ method: string; pattern: string }>;
  /** Stops accepting connections; requests in progress go on. */
  stopAccepting(): void;
  /** Closes every connection left (after the drain). */
  closeConnections(): void;
}

/** Connections the kernel may hold for the gateway to accept (Node's default is 511). */
const ACCEPT_BACKLOG = 4096;

export async function startHttpApi(host: string, port: number, deps: HttpDeps): Promise<HttpApi> {
  const router = buildRouter(deps);
  const server = createServer((req, res) => void serve(router, req, res, deps));
  // Clients keep connections alive between calls; a sync call may wait up to its function's timeout.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  // A deep accept queue (the kernel caps it at net.core.somaxconn): under overload, connections wait in it to be
  // answered, 429 included, instead of being dropped and retried by the client's TCP a second or more later.
  server.listen({ port, host, backlog: ACCEPT_BACKLOG });
  await Promise.race([once(server, "listening"), once(server, "error").then(([err]) => Promise.reject(err))]);
  server.on("error", (err) => deps.log.error({ err }, "HTTP server error"));
  return {
    port: (server.address() as AddressInfo).port,
    routes: router.list(),
    stopAccepting: () => {
      server.close();
      server.closeIdleConnections();
    },
    closeConnections: () => server.closeAllConnections(),
  };
}

/** The router serves the route table, and the docs describe that same table. */
function buildRouter(deps: HttpDeps): Router<Route> {
  const docs = new ApiDocs();
  // Concrete paths first: GET /v1/invocations/live must win over GET /v1/invocations/{id}.
  const table = [...(deps.moreRoutes ?? []), ...routeTable({ ...deps, docs })];
  docs.describe(table);
  const router = new Router<Route>();
  for (const r of table) router.add(r.method, r.path, r);
  return router;
}

async function serve(router: Router<Route>, req: IncomingMessage, res: ServerResponse, d: HttpDeps): Promise<void> {
  try {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const matched = await matchOrFallback(router, req, res, q < 0 ? url : url.slice(0, q), d.fallback);
    if (!matched) return;
    const { handler: route, params: raw } = matched;
    const { params, query } = argumentsOf(route, raw, new URLSearchParams(q < 0 ? "" : url.slice(q + 1)));
    const reply = await route.handle({ req, res, params, query });
    send(res, reply.status, reply.body, reply.headers);
  } catch (err) {
    sendError(res, asWeftError(err), req, d.log);
  }
}

/** The route for the request; undefined when the fallback answered a path no route matches. */
async function matchOrFallback(router: Router<Route>, req: IncomingMessage, res: ServerResponse, path: string, fallback?: Fallback) {
  try {
    return router.match(req.method ?? "GET", path);
  } catch (err) {
    if (fallback && err instanceof WeftError && err.code === "NOT_FOUND" && (await fallback(req, res, path))) return undefined;
    throw err;
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  if (res.headersSent || res.destroyed) return;
  const payload = body instanceof Uint8Array ? body : JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    ...headers,
    "content-length": typeof payload === "string" ? Buffer.byteLength(payload) : payload.byteLength,
  });
  res.end(payload);
}

function sendError(res: ServerResponse, err: WeftError, req: IncomingMessage, log: Logger): void {
  if (err.code === "INTERNAL") log.error({ err: err.cause ?? err, method: req.method, url: req.url }, "unexpected error in the HTTP API");
  const headers: Record<string, string> = {};
  if (err instanceof MethodNotAllowed) headers.allow = err.allowed.join(", ");
  if (err.code === "BUILD_PENDING") headers["retry-after"] = String(BUILD_RETRY_AFTER_S);
  // The rest of an over-limit body is never read, so this connection cannot carry another request.
  if (err instanceof BodyAbandoned) headers.connection = "close";
  if (err instanceof Overloaded) headers["retry-after"] = String(err.retryAfterS);
  send(res, err.httpStatus, { error: err.toBody() }, headers);
}
