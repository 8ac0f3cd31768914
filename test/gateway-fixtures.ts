// What the gateway tests share: a gateway on a private nats-server, and small stand-ins for the other
// components that speak their real NATS contracts (the real agent and controller are tested elsewhere and
// end to end): a job responder pulling from the agents' consumer, agent heartbeats, and a controller.
import { normalizeBundle } from "../shared/bundle.js";
import { randomBytes, createHash } from "node:crypto";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { connect, headers as natsHeaders, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { jetstream, type ConsumerMessages, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { credentials, loadPackageDefinition, Metadata, type Client, type ServiceError } from "@grpc/grpc-js";
import { pino } from "pino";
import { freePort, startNats, type NatsServer } from "./harness/nats.js";
import { startGateway, type Gateway } from "../gateway/app.js";
import { loadGatewayConfig } from "../gateway/config.js";
import { loadWeftProto } from "../gateway/proto.js";
import { directJobId } from "../shared/records.js";
import { openFunctionsBucket, ensureTopology, DEFAULT_TOPOLOGY } from "../shared/nats.js";
import { HEADERS } from "../shared/headers.js";
import { FunctionSpec, summarize, type FunctionDefinition } from "../shared/schemas/function.js";
import { resolveRuntime, type RuntimeName } from "../shared/runtimes.js";
import type { AgentStatus } from "../shared/schemas/agent.js";
import type { InvocationResult, RecordEvent } from "../shared/schemas/invocation.js";
import { fromZodError, type ErrorBody } from "../shared/errors.js";
import {
  AGENT_HEARTBEAT_SUBJECT,
  AGENT_PING_SUBJECT,
  CONTROLLER_PREFIX,
  CONTROLLER_QUEUE,
  JOBS_CONSUMER,
  JOBS_STREAM,
  JOBS_SUBJECT_PREFIX,
  RECORDS_CONSUMER,
  RECORDS_STREAM,
  latestKey,
  versionKey,
} from "../shared/subjects.js";
import { until } from "./harness/eventually.js";
export { until };

export const uniqueName = (prefix: string) => `${prefix}-${randomBytes(4).toString("hex")}`;

export const testLog = (name: string) => pino({ level: process.env.WEFT_TEST_LOG ?? "silent", base: { component: name } });

export interface GatewayUnderTest {
  nats: NatsServer;
  /** A client connection of the test's own. */
  nc: NatsConnection;
  js: JetStreamClient;
  kv: KV;
  gateway: Gateway;
  httpUrl: string;
  grpcAddress: string;
  stop(): Promise<void>;
}

export async function startGatewayUnderTest(env: Record<string, string> = {}): Promise<GatewayUnderTest> {
  const nats = await startNats();
  const nc = await connect({ servers: nats.url });
  await ensureTopology(nc, DEFAULT_TOPOLOGY);
  const kv = await openFunctionsBucket(nc);
  const gateway = await startGateway(
    loadGatewayConfig({ WEFT_NATS_URL: nats.url, WEFT_HTTP_PORT: "0", WEFT_GRPC_PORT: "0", ...env }),
    testLog("gateway"),
  );
  return {
    nats,
    nc,
    js: jetstream(nc),
    kv,
    gateway,
    httpUrl: `http://127.0.0.1:${gateway.httpPort}`,
    grpcAddress: `127.0.0.1:${gateway.grpcPort}`,
    stop: async () => {
      await gateway.stop();
      await nc.close();
      await nats.cleanup();
    },
  };
}

/** The incarnation a fixture definition gets unless it names one: the same for every version of a name. */
export const incarnationOf = (name: string): string => createHash("sha256").update(name).digest("hex").slice(0, 16);

/**
 * A gateway as its own process (gateway/main.ts), as `npm run up` runs it: what a client sees of its sockets depends
 * on the gateway's event loop being another process's, which an in-process gateway does not show.
 */
export async function startGatewayProcess(natsUrl: string, env: Record<string, string> = {}): Promise<{ httpUrl: string; stop(): Promise<void> }> {
  const httpPort = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("../gateway/main.ts", import.meta.url))], {
    env: { ...process.env, WEFT_NATS_URL: natsUrl, WEFT_HTTP_PORT: String(httpPort), WEFT_GRPC_PORT: "0", WEFT_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  await until(async () => (await fetch(`${httpUrl}/healthz`).catch(() => undefined)) !== undefined, "the gateway process listening", 30_000);
  return {
    httpUrl,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** A definition as the controller would store it. */
export function definition(name: string, spec: Partial<Omit<FunctionDefinition, "runtime">> & { runtime?: RuntimeName } = {}, version = 1): FunctionDefinition {
  const { name: _name, version: _version, codeSha256: _sha, createdAt: _at, incarnation, ...fields } = spec;
  const code = spec.code ?? "exports.handler = async (e) => e";
  const parsed = FunctionSpec.parse({ runtime: "nodejs", ...fields, code });
  return {
    ...parsed,
    runtime: resolveRuntime(parsed.runtime), // as the controller stores it
    code,
    name,
    incarnation: incarnation ?? incarnationOf(name),
    version,
    codeSha256: createHash("sha256").update(code).digest("hex"),
    createdAt: new Date().toISOString(),
  };
}

/** Writes a version and makes it the latest, as the controller mirrors MongoDB into the bucket. */
export async function publishDefinition(kv: KV, def: FunctionDefinition): Promise<void> {
  await kv.put(versionKey(def.name, def.incarnation, def.version), JSON.stringify(def));
  await kv.put(latestKey(def.name), JSON.stringify(def));
}


export interface HttpReply {
  status: number;
  headers: Headers;
  body: any;
}

export async function http(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpReply> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

// ---- a stand-in agent: pulls jobs, answers Weft-Reply-To ----

export interface SeenJob {
  subject: string;
  data: string;
  headers: Record<string, string>;
}

/**
 * Answers every job with an ok InvocationResult whose output echoes the event. An event with `noReply: true`
 * is acked without an answer; `delayMs` holds the answer back.
 */
export class Responder {
  readonly jobs: SeenJob[] = [];
  private messages: ConsumerMessages | undefined;

  constructor(private readonly nc: NatsConnection, readonly agentId = "fake-agent") {}

  async start(): Promise<this> {
    const consumer = await jetstream(this.nc).consumers.get(JOBS_STREAM, JOBS_CONSUMER);
    this.messages = await consumer.consume({ max_messages: 256, callback: (m) => this.answer(m) });
    return this;
  }

  stop(): void {
    this.messages?.stop();
  }

  private answer(m: JsMsg): void {
    const h = m.headers;
    const seen: SeenJob = { subject: m.subject, data: m.string(), headers: {} };
    for (const k of h?.keys() ?? []) seen.headers[k] = h!.get(k);
    this.jobs.push(seen);
    const event = JSON.parse(seen.data || "null") as { noReply?: boolean; delayMs?: number } | null;
    const result: InvocationResult = {
      invocationId: h?.get(HEADERS.invocationId) || directJobId(m.seq, m.info.timestampNanos / 1e6),
      functionName: m.subject.slice(JOBS_SUBJECT_PREFIX.length + 1),
      version: Number(h?.get(HEADERS.version) || 1),
      status: "ok",
      output: { echo: event },
      durationMs: 0.1,
      coldStart: false,
      logs: "",
      agent: this.agentId,
    };
    const reply = () => {
      const to = h?.get(HEADERS.replyTo);
      if (to && !event?.noReply) this.nc.publish(to, JSON.stringify(result));
      m.ack();
    };
    if (event?.delayMs) setTimeout(reply, event.delayMs);
    else reply();
  }
}

/** Announces a stand-in agent on the heartbeat subject and answers pings. */
/** An agent stand-in: heartbeats and ping answers. Resolves once the server has its ping subscription. */
export async function heartbeats(nc: NatsConnection, agentId: string, state: AgentStatus["state"] = "running"): Promise<{ stop(): void }> {
  const status = (): AgentStatus => ({ agentId, host: "test", state, slots: 4, busy: 0, containers: 0, stemCells: 0, at: Date.now() });
  const ping = nc.subscribe(AGENT_PING_SUBJECT, { callback: (_e, m) => { m.respond(JSON.stringify(status())); } });
  nc.publish(AGENT_HEARTBEAT_SUBJECT, JSON.stringify(status()));
  const timer = setInterval(() => nc.publish(AGENT_HEARTBEAT_SUBJECT, JSON.stringify(status())), 500);
  await nc.flush();
  return { stop: () => { clearInterval(timer); ping.unsubscribe(); } };
}

// ---- a stand-in controller: the weft.ctl.* contract over an in-memory store that mirrors into the bucket ----

export class FakeController {
  readonly versions = new Map<string, FunctionDefinition[]>();
  readonly live = new Set<string>();
  readonly records = new Map<string, Record<string, unknown>>();
  private sub: Subscription | undefined;
  private recordMessages: ConsumerMessages | undefined;

  constructor(private readonly nc: NatsConnection, private readonly kv: KV) {}

  async start(): Promise<this> {
    this.sub = this.nc.subscribe(`${CONTROLLER_PREFIX}.>`, {
      queue: CONTROLLER_QUEUE,
      callback: (_e, m) => void this.handle(m.subject.slice(CONTROLLER_PREFIX.length + 1), m.json<any>()).then((r) => m.respond(JSON.stringify(r))),
    });
    const consumer = await jetstream(this.nc).consumers.get(RECORDS_STREAM, RECORDS_CONSUMER);
    this.recordMessages = await consumer.consume({ callback: (m) => { this.keep(m.json<RecordEvent>()); m.ack(); } });
    return this;
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.recordMessages?.stop();
  }

  private keep(e: RecordEvent): void {
    const { phase, event, ...rest } = e;
    const prev = this.records.get(e.invocationId) ?? { status: "queued" };
    const status = phase === "final" ? e.status : phase === "running" || prev.status !== "queued" ? prev.status ?? phase : "queued";
    this.records.set(e.invocationId, {
      ...prev,
      ...rest,
      status,
      ...(event !== undefined ? { event: JSON.parse(event) } : {}),
      enqueuedAt: new Date(e.enqueuedAt).toISOString(),
    });
  }

  private async handle(op: string, req: any): Promise<{ ok: true; result: unknown } | { ok: false; error: ErrorBody }> {
    try {
      return { ok: true, result: await this.run(op, req) };
    } catch (err) {
      const e = err as { toBody?: () => ErrorBody; message: string };
      return { ok: false, error: e.toBody?.() ?? { code: "INTERNAL", message: e.message } };
    }
  }

  private async run(op: string, req: any): Promise<unknown> {
    switch (op) {
      case "functions.put": return this.put(req.name, req.spec);
      case "functions.get": return this.find(req.name, req.version);
      case "functions.list": return [...this.live].map((n) => summarize(this.versions.get(n)!.at(-1)!));
      case "functions.delete": {
        this.find(req.name);
        this.live.delete(req.name);
        await this.kv.delete(latestKey(req.name));
        return { name: req.name, deleted: true };
      }
      case "functions.metrics":
        this.find(req.name);
        return { functionName: req.name, windowMs: req.windowMs ?? 86_400_000, count: 2, ok: 1, errors: 1, timeouts: 0, killed: 0, coldStarts: 1, durationMs: { p50: 1.5, p95: 2, p99: 2, mean: 1.75, max: 2 } };
      case "invocations.get": {
        const r = this.records.get(req.invocationId);
        if (!r) throw notFoundError(`invocation ${req.invocationId}`);
        return r;
      }
      case "invocations.list":
        return [...this.records.values()].filter((r) => r.functionName === req.name).reverse().slice(0, req.limit);
      case "health": return { mongo: "ok" };
      default: throw notFoundError(`operation ${op}`);
    }
  }

  private async put(name: string, spec: unknown) {
    const parsed = FunctionSpec.safeParse(spec);
    if (!parsed.success) throw fromZodError(parsed.error);
    normalizeBundle(parsed.data); // as the controller does: a spec without code (or files) is refused naming code
    const created = !this.live.has(name);
    // As the controller does: a name used again after DELETE is a new function, numbered from 1.
    const list = created ? [] : this.versions.get(name)!;
    const incarnation = created ? randomBytes(8).toString("hex") : list.at(-1)!.incarnation;
    const def = definition(name, { ...parsed.data, incarnation }, (list.at(-1)?.version ?? 0) + 1);
    list.push(def);
    this.versions.set(name, list);
    this.live.add(name);
    await publishDefinition(this.kv, def);
    return { ...summarize(def), created };
  }

  private find(name: string, version?: number): FunctionDefinition {
    const list = this.versions.get(name);
    if (!list || !this.live.has(name)) throw notFoundError(`function ${name}`);
    const def = version === undefined ? list.at(-1) : list.find((d) => d.version === version);
    if (!def) throw notFoundError(`version ${version} of function ${name}`);
    return def;
  }
}

const notFoundError = (what: string) => ({ toBody: (): ErrorBody => ({ code: "NOT_FOUND", message: `${what} not found` }), message: what });

// ---- gRPC clients built from the same .proto ----

export interface GrpcClients {
  functions: Client & Record<string, Function>;
  invocations: Client & Record<string, Function>;
  close(): void;
}

export function grpcClients(address: string): GrpcClients {
  const pkg = loadPackageDefinition(loadWeftProto()) as any;
  const options = { "grpc.max_receive_message_length": 16 * 1024 * 1024, "grpc.max_send_message_length": 16 * 1024 * 1024 };
  const functions = new pkg.weft.v1.FunctionService(address, credentials.createInsecure(), options);
  const invocations = new pkg.weft.v1.InvocationService(address, credentials.createInsecure(), options);
  return { functions, invocations, close: () => { functions.close(); invocations.close(); } };
}

/** A unary call as a promise: resolves with the response, rejects with the ServiceError (code, details, metadata). */
export function grpcCall<T = any>(client: Record<string, Function>, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) =>
    client[method]!.call(client, request, new Metadata(), { deadline: Date.now() + 30_000 }, (err: ServiceError | null, res: T) => (err ? reject(err) : resolve(res))),
  );
}

/** The ServiceError a call failed with; fails the test if it succeeded. */
export async function grpcError(promise: Promise<unknown>): Promise<ServiceError & { weftCode: string; weftField: string | undefined }> {
  try {
    const res = await promise;
    throw new Error(`expected the call to fail, got ${JSON.stringify(res)}`);
  } catch (err) {
    const e = err as ServiceError;
    if (typeof e.code !== "number") throw err;
    return Object.assign(e, {
      weftCode: String(e.metadata?.get("weft-error-code")[0] ?? ""),
      weftField: e.metadata?.get("weft-error-field")[0] as string | undefined,
    });
  }
}

export { natsHeaders };
