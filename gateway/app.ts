// Builds a gateway from its configuration: NATS connection and topology, function cache, reply inbox, invoker,
// the NATS front door, and the HTTP and gRPC APIs. main.ts runs it; tests start it on ephemeral ports.
import { runStopSteps, withDeadline } from "../shared/lifecycle.js";
import { randomBytes } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../shared/logger.js";
import { awaitTopology, bucketSettling, connectNats, openFunctionsBucket, whileJetStreamSettles } from "../shared/nats.js";
import { AgentRegistry } from "./agent-registry.js";
import { agentRoutes } from "./agent-routes.js";
import { ConsoleAssets } from "./console-assets.js";
import { InvocationFeed } from "./invocation-feed.js";
import { invocationRoutes } from "./invocation-routes.js";
import { logRoutes } from "./log-routes.js";
import { metricsSeriesRoutes } from "./metrics-series-routes.js";
import { versionRoutes } from "./version-routes.js";
import { deadLetterRoutes } from "./dead-letter-routes.js";
import { DeadLetters } from "./dead-letters.js";
import type { GatewayConfig } from "./config.js";
import { ControlPlane } from "./control-plane.js";
import { ControllerClient } from "./controller-client.js";
import { AliasResolver } from "./alias-resolver.js";
import { FunctionCache } from "./function-cache.js";
import { startGrpcApi, type GrpcApi } from "./grpc-api.js";
import { Health } from "./health.js";
import { startHttpApi, type HttpApi } from "./http-api.js";
import { Invoker } from "./invoker.js";
import { SyncAdmission } from "./admission.js";
import { Executor } from "./executor.js";
import { NatsIngress } from "./nats-ingress.js";
import { ExecuteIngress } from "./execute-ingress.js";
import { NatsLink, reconnectGraceFor } from "./nats-link.js";
import { ReplyInbox } from "./reply-inbox.js";
import { FabricMetrics } from "./prometheus.js";
import { IdempotencyStore } from "./idempotency.js";
import { openIdempotencyBucket } from "../shared/event-buckets.js";
import { startTriggers, type Triggers } from "./triggers.js";
import { triggersRoutes } from "./triggers-routes.js";

export interface Gateway {
  readonly gatewayId: string;
  readonly httpPort: number;
  readonly grpcPort: number;
  /** Every method and path the HTTP API routes (GET /openapi.json describes exactly these). */
  readonly httpRoutes: ReadonlyArray<{ method: string; pattern: string }>;
  /** Stops accepting, lets in-flight calls finish (up to the grace time), closes. Idempotent. */
  stop(): Promise<void>;
}

export type GatewayState = "starting" | "running" | "stopping" | "stopped";

/** Draining needs the server; past this (NATS down or stuck) the connection is closed instead. */
const NATS_DRAIN_MS = 5000;
/** Bound of one stop step that has no deadline of its own (closing sockets, clients). */
const STOP_STEP_TIMEOUT_MS = 10_000;

/** Longest start-up waits for the function bucket's snapshot before serving anyway (and saying so). */
const CACHE_LOAD_WAIT_MS = 10_000;

export async function startGateway(config: GatewayConfig, log: Logger): Promise<Gateway> {
  const gatewayId = config.gatewayId ?? randomBytes(6).toString("hex");
  const glog = log.child({ gatewayId });
  const steps: Array<{ name: string; run: () => unknown }> = [];
  const undo = async () => {
    await runStopSteps(steps.reverse(), glog, STOP_STEP_TIMEOUT_MS);
  };
  try {
    const parts = await build(config, gatewayId, glog, steps);
    glog.info({ httpPort: parts.http.port, grpcPort: parts.grpc.port, functions: parts.cache.size }, "gateway running");
    return running(parts, config, gatewayId, glog);
  } catch (err) {
    await undo();
    throw err;
  }
}

interface Parts {
  nc: NatsConnection;
  link: NatsLink;
  cache: FunctionCache;
  inbox: ReplyInbox;
  agents: AgentRegistry;
  metrics: FabricMetrics;
  invoker: Invoker;
  admission: SyncAdmission;
  ingress: NatsIngress;
  executeIngress: ExecuteIngress;
  feed: InvocationFeed;
  http: HttpApi;
  grpc: GrpcApi;
  state: { value: GatewayState };
  triggers: Triggers;
}

/** Starts every part in order, pushing its undo step so a failure half-way releases what was started. */
async function build(config: GatewayConfig, gatewayId: string, log: Logger, steps: Array<{ name: string; run: () => unknown }>): Promise<Parts> {
  const state = { value: "starting" as GatewayState };
  log.info({ natsUrl: config.natsUrl }, "connecting to NATS (waits until it is up)");
  const nc = await connectNats(config.natsUrl, `weft-gateway-${gatewayId}`, log);
  steps.push({ name: "nats", run: () => nc.close() });
  await awaitTopology(nc, log);
  const link = new NatsLink(nc, log, reconnectGraceFor(config.natsUrl));
  const cache = new FunctionCache(nc, await openFunctionsBucket(nc, log), log);
  steps.push({ name: "function cache", run: () => cache.stop() });
  await cache.start();
  await waitForCache(cache, log);
  const inbox = new ReplyInbox(nc, gatewayId);
  const agents = new AgentRegistry(nc, config.agentSeenMs, log);
  const controller = new ControllerClient(nc, link, config.controllerTimeoutMs);
  const aliases = new AliasResolver(controller);
  const idempotencyKv = await whileJetStreamSettles(() => openIdempotencyBucket(nc), "opening the idempotency bucket", log, bucketSettling);
  const idempotency = new IdempotencyStore(idempotencyKv, (id) => controller.getInvocation(id), config.publishRetryMs);
  const admission = new SyncAdmission({ slots: () => agents.runningSlots(), maxInflight: config.maxInflight, adaptive: config.adaptiveAdmission });
  admission.start();
  steps.push({ name: "admission", run: () => admission.stop() });
  const invoker = new Invoker({
    admission,
    agents,
    aliases,
    idempotency,
    js: jetstream(nc, { timeout: config.publishTimeoutMs }),
    link,
    cache,
    inbox,
    log,
    options: { recordSyncEvents: config.recordSyncEvents, syncPath: config.syncPath, directAffinity: config.directAffinity, syncWaitMs: config.syncWaitMs, maxInflight: config.maxInflight, publishTimeoutMs: config.publishTimeoutMs, publishRetryMs: config.publishRetryMs, buildWaitMs: config.buildWaitMs },
  });
  const triggers = await startTriggers({ nc, invoker, cache, aliases, ticks: idempotencyKv, log }, steps);
  const executor = new Executor(nc, link, { ratePerSec: config.executeRatePerSec, burst: config.executeBurst }, log);
  const plane = new ControlPlane(controller, cache, log, aliases);
  const health = new Health({ link, cache, agents, controller, isStopping: () => state.value !== "running", log });
  const metrics = new FabricMetrics({ nc, link, agents, cache, controller, log });
  steps.push({ name: "metrics", run: () => metrics.stop() });
  const ingress = new NatsIngress(nc, invoker, log);
  steps.push({ name: "nats ingress", run: () => ingress.stop(link.up) });
  const executeIngress = new ExecuteIngress(nc, executor, log);
  steps.push({ name: "nats execute ingress", run: () => executeIngress.stop(link.up) });
  const feed = new InvocationFeed(nc, (name, incarnation) => {
    const fn = cache.get(name);
    return fn !== undefined && (incarnation === undefined || fn.incarnation === incarnation);
  }, log);
  steps.push({ name: "invocation feed", run: () => feed.stop() });
  const deadLetters = new DeadLetters(nc, invoker, log, (fn, n) => metrics.redriven(fn, n));
  const moreRoutes = [...triggersRoutes(triggers.service), ...agentRoutes(agents), ...invocationRoutes(controller, feed), ...logRoutes(controller, feed), ...versionRoutes(controller), ...metricsSeriesRoutes(controller),
    ...deadLetterRoutes(deadLetters)];
  const http = await startHttpApi(config.httpHost, config.httpPort, {
    invoker,
    executor,
    plane,
    health,
    metrics,
    log,
    moreRoutes,
    fallback: new ConsoleAssets(config.consoleDir, log).serve,
  });
  steps.push({ name: "http", run: () => { http.stopAccepting(); http.closeConnections(); } });
  const grpc = await startGrpcApi(config.grpcHost, config.grpcPort, { invoker, executor, plane, triggers: triggers.service, deadLetters, log, routes: moreRoutes, feed });
  state.value = "running";
  return { nc, link, cache, inbox, agents, metrics, invoker, admission, ingress, executeIngress, feed, http, grpc, state, triggers };
}

async function waitForCache(cache: FunctionCache, log: Logger): Promise<void> {
  if (!(await withDeadline(cache.ready, CACHE_LOAD_WAIT_MS))) log.warn("the functions bucket snapshot is still loading; serving anyway (/healthz says so)");
}

function running(p: Parts, config: GatewayConfig, gatewayId: string, log: Logger): Gateway {
  let stopping: Promise<void> | undefined;
  return {
    gatewayId,
    httpPort: p.http.port,
    grpcPort: p.grpc.port,
    httpRoutes: p.http.routes,
    stop: () => (stopping ??= stop(p, config.shutdownGraceMs, log)),
  };
}

/** Ordered shutdown: stop intake everywhere, drain in-flight invocations, then release the connections. */
async function stop(p: Parts, graceMs: number, log: Logger): Promise<void> {
  p.state.value = "stopping";
  log.info({ inFlight: p.invoker.inFlight }, "gateway stopping");
  p.http.stopAccepting();
  const grpcDrained = p.grpc.drain(); // refuses new calls at once; resolves when the running ones finish
  const steps = [
    // Live streams end first: their clients reconnect elsewhere, and they would hold the HTTP server open.
    { name: "invocation feed", run: () => p.feed.stop() },
    { name: "drain nats ingress", run: () => withDeadline(p.ingress.stop(p.link.up), NATS_DRAIN_MS) },
    // Trigger runners stop taking messages and finish those in hand (unacked stream messages go to other gateways).
    { name: "trigger runners", run: () => p.triggers.runner.stop() },
    { name: "drain nats execute ingress", run: () => withDeadline(p.executeIngress.stop(p.link.up), NATS_DRAIN_MS) },
    { name: "refuse new invocations", run: () => p.invoker.close() },
    { name: "drain in-flight invocations", run: () => drainInvocations(p, graceMs, log) },
    { name: "release waiting calls", run: () => p.inbox.stop() },
    { name: "trigger counters", run: () => p.triggers.counters.stop() },
    { name: "drain grpc", run: () => withDeadline(grpcDrained, 1000).then((ok) => ok || p.grpc.close()) },
    { name: "close http connections", run: () => p.http.closeConnections() },
    { name: "agent registry", run: () => p.agents.stop() },
    { name: "admission", run: () => p.admission.stop() },
    { name: "metrics", run: () => p.metrics.stop() },
    { name: "function cache", run: () => p.cache.stop() },
    { name: "nats", run: () => closeNats(p) },
  ];
  // The drain step waits up to the grace time by design: bound each step above it.
  await runStopSteps(steps, log, graceMs + STOP_STEP_TIMEOUT_MS);
  p.state.value = "stopped";
  log.info("gateway stopped");
}

async function drainInvocations(p: Parts, graceMs: number, log: Logger): Promise<void> {
  if (!(await p.invoker.drained(graceMs))) {
    log.warn({ inFlight: p.invoker.inFlight }, "grace time over; answering the calls still waiting as running");
  }
}

async function closeNats(p: Parts): Promise<void> {
  if (p.link.up && (await withDeadline(p.nc.drain(), NATS_DRAIN_MS))) return;
  await p.nc.close();
}

