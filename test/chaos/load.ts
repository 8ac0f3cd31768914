// Load for a chaos scenario: async calls whose invocation ids are recorded (HTTP, gRPC and NATS clients), and
// sync calls in loops (the same three clients) whose answers are recorded. Every call names a handler that
// returns its own invocation id and attempt, or raises when asked to, so the audit can judge every outcome.
import { randomBytes } from "node:crypto";
import { Agent as HttpAgent } from "node:http";
import { Metadata, credentials, status, type Client, type ServiceError } from "@grpc/grpc-js";
import { headers as natsHeaders, type Msg, type MsgHdrs } from "@nats-io/transport-node";
import { loadWeftProto, toProtoValue } from "../bench/grpc-client.js";
import { invokeSubject } from "../../shared/subjects.js";
import type { ChaosFabric } from "./fabric.js";

export const CHAOS_FUNCTIONS = {
  python3: [
    "import time",
    "def handler(event, context):",
    "    time.sleep(event.get('sleepMs', 0) / 1000)",
    "    if event.get('fail'):",
    "        raise ValueError('asked to fail')",
    "    return {'id': context.invocation_id, 'attempt': context.attempt}",
    "",
  ].join("\n"),
  nodejs: [
    "exports.handler = async (event, context) => {",
    "  await new Promise((r) => setTimeout(r, event.sleepMs || 0));",
    "  if (event.fail) throw new Error('asked to fail');",
    "  return { id: context.invocationId, attempt: context.attempt };",
    "};",
    "",
  ].join("\n"),
} as const;

/** A call not answered within this counts as failed (retryable); the gateway answers a sync call 202 before it. */
const CALL_TIMEOUT_MS = 25_000;
/**
 * An async call is answered once its job is stored (milliseconds). A request written into a connection the
 * server dropped is lost without an answer; like a real client, the load gives up on it after this and retries.
 */
const ASYNC_CALL_TIMEOUT_MS = 5_000;

export type Runtime = keyof typeof CHAOS_FUNCTIONS;
export type Isolation = "runc" | "gvisor";
export type ClientKind = "http" | "grpc" | "nats";

export interface ChaosFunction {
  name: string;
  runtime: Runtime;
  isolation: Isolation;
}

export function chaosFunctions(isolations: Isolation[]): ChaosFunction[] {
  const out: ChaosFunction[] = [];
  for (const isolation of isolations) {
    for (const runtime of ["python3", "nodejs"] as const) out.push({ name: `chaos-${runtime === "python3" ? "py" : "js"}-${isolation}`, runtime, isolation });
  }
  return out;
}

export async function deployFunctions(f: ChaosFabric, fns: ChaosFunction[]): Promise<void> {
  for (const fn of fns) {
    const res = await fetch(`${f.httpUrl}/v1/functions/${fn.name}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ runtime: fn.runtime, isolation: fn.isolation, code: CHAOS_FUNCTIONS[fn.runtime], concurrency: 16, limits: { timeoutMs: 120_000, memoryMb: 256 } }),
    });
    if (res.status >= 300) throw new Error(`deploy ${fn.name}: ${res.status} ${await res.text()}`);
  }
}

/** What the audit expects of one accepted invocation's final record. */
export interface Expectation {
  status: "ok" | "error" | "killed" | "timeout";
  errorCode?: string;
}

export interface Accepted {
  fn: string;
  client: ClientKind;
  mode: "async" | "sync";
  expect: Expectation;
  acceptedAt: number;
}

export interface SyncStats {
  ok: number;
  /** answered with an outcome other than ok (e.g. killed / PLATFORM_ERROR): a failure the caller sees */
  failedOutcome: number;
  /** refused or cut (503, 429, connection error, timeout): retryable, and not accepted */
  failedRetryable: number;
  /** answered 200/ok with an output that is not this invocation's */
  wrong: number;
  /** answered 202: the sync wait ran out; the call is accepted and audited like an async one */
  late: number;
}

export interface LoadSettings {
  asyncCount: number;
  /** async calls are spread over this long */
  spreadMs: number;
  sleepMs: number;
  /** every n-th async call asks its handler to fail (0: none) */
  failEvery: number;
  syncWorkers: number;
}

type Event = { sleepMs: number; fail?: boolean; tag: string };

interface Result {
  invocationId?: string;
  status?: string;
  output?: unknown;
  errorCode?: string;
}

export function fromProtoValue(v: any): unknown {
  if (!v || typeof v !== "object") return v;
  switch (v.kind) {
    case "nullValue": return null;
    case "numberValue": return v.numberValue;
    case "stringValue": return v.stringValue;
    case "boolValue": return v.boolValue;
    case "structValue": return Object.fromEntries(Object.entries(v.structValue?.fields ?? {}).map(([k, x]) => [k, fromProtoValue(x)]));
    case "listValue": return (v.listValue?.values ?? []).map(fromProtoValue);
    default: return undefined;
  }
}

/** A connection the gateway refused: nothing was sent, so another gateway may take the call (as a load balancer does). */
function refused(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string } }).cause;
  return cause?.code === "ECONNREFUSED";
}

/**
 * The three clients of the gateways (HTTP and gRPC) and of NATS. With several gateways (the cluster fabric) HTTP
 * calls go round them and move to the next one when a gateway refuses the connection, and gRPC balances over
 * their addresses (round robin over the ready ones), as a load balancer in front of them would.
 */
export class Clients {
  private readonly agent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
  private grpc: Client & Record<string, Function>;
  private nextGateway = 0;

  constructor(private readonly f: ChaosFabric) {
    const weft = loadWeftProto();
    const addresses = f.grpcAddresses;
    const balanced = addresses.length > 1;
    const target = balanced ? `ipv4:${addresses.join(",")}` : addresses[0]!;
    // A balancer probes a gateway that went away often (grpc's default back-off grows to minutes over a restart).
    const options = balanced
      ? {
          "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
          "grpc.initial_reconnect_backoff_ms": 200,
          "grpc.max_reconnect_backoff_ms": 1000,
        }
      : {};
    this.grpc = new weft.InvocationService(target, credentials.createInsecure(), options);
    // waitForReady: a call waits (within its deadline) for a ready gateway instead of failing while both reconnect.
    this.grpcMetadata = () => new Metadata({ waitForReady: balanced });
    this.reconnects = (async function* (nc) {
      for await (const s of nc.status()) if (s.type === "reconnect") yield;
    })(f.bus);
    void this.followReconnects();
  }

  private readonly reconnects: AsyncGenerator<void>;
  private reconnected: Array<() => void> = [];
  private readonly grpcMetadata: () => Metadata;

  private async followReconnects(): Promise<void> {
    for await (const _ of this.reconnects) {
      const waiting = this.reconnected;
      this.reconnected = [];
      for (const w of waiting) w();
    }
  }

  /** Resolves when the runner's NATS connection next comes back after a drop (a reply sent meanwhile is lost). */
  private nextReconnect(): { promise: Promise<"reconnected">; cancel(): void } {
    let done!: () => void;
    const promise = new Promise<"reconnected">((r) => (done = () => r("reconnected")));
    this.reconnected.push(done);
    return { promise, cancel: () => (this.reconnected = this.reconnected.filter((w) => w !== done)) };
  }

  close(): void {
    void this.reconnects.return(undefined);
    this.grpc.close();
    this.agent.destroy();
  }

  async call(kind: ClientKind, fn: string, event: Event, async: boolean): Promise<Result> {
    if (kind === "http") return this.http(fn, event, async);
    if (kind === "grpc") return this.grpcCall(fn, event, async);
    return this.nats(fn, event, async);
  }

  private async http(fn: string, event: Event, async: boolean): Promise<Result> {
    const urls = this.f.httpUrls;
    const first = this.nextGateway++;
    // On a cluster a sync call carries an idempotency key, so a connection cut mid-call (a gateway stopping as the
    // request reached it) may be sent again, to the other gateway: the repeat answers the first call's result.
    const key = this.f.cluster && !async ? `chaos-${randomBytes(8).toString("hex")}` : undefined;
    const signal = AbortSignal.timeout(async ? ASYNC_CALL_TIMEOUT_MS : CALL_TIMEOUT_MS);
    let res: Response | undefined;
    for (let i = 0; !res; i++) {
      const url = urls[(first + i) % urls.length]!;
      try {
        res = await fetch(`${url}/v1/functions/${fn}/invoke${async ? "?async=true" : ""}`, {
          method: "POST",
          headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
          body: JSON.stringify(event),
          signal,
        });
      } catch (err) {
        const again = refused(err) || (key !== undefined && !signal.aborted);
        if (!again || i + 1 >= urls.length * 2) throw err;
      }
    }
    const body = (await res.json().catch(() => ({}))) as Result & { error?: { code?: string } };
    if (res.status === 202) return { invocationId: body.invocationId, status: async ? "queued" : "accepted" };
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    return { invocationId: body.invocationId, status: body.status, output: body.output, errorCode: body.error?.code };
  }

  private grpcCall(fn: string, event: Event, async: boolean): Promise<Result> {
    return new Promise((resolve, reject) => {
      const method = async ? this.grpc.InvokeAsync! : this.grpc.Invoke!;
      method.call(this.grpc, { name: fn, event: toProtoValue(event) }, this.grpcMetadata(), { deadline: Date.now() + (async ? ASYNC_CALL_TIMEOUT_MS : CALL_TIMEOUT_MS)}, (err: ServiceError | null, out: any) => {
        // The gateway's sync wait ran out (HTTP's 202): DEADLINE_EXCEEDED naming the accepted invocation.
        const running = err?.code === status.DEADLINE_EXCEEDED ? err.metadata?.get("weft-invocation-id")[0] : undefined;
        if (running !== undefined && !async) return resolve({ invocationId: String(running), status: "accepted" });
        if (err) return reject(err);
        if (async) return resolve({ invocationId: out.invocationId, status: "queued" });
        resolve({ invocationId: out.invocationId, status: out.status, output: fromProtoValue(out.output), errorCode: out.error?.code || undefined });
      });
    });
  }

  /**
   * A sync NATS request as a careful client sends it on a cluster: with an idempotency key (Nats-Msg-Id), and sent
   * again with the same key when no reply came within a few seconds or the runner's own connection dropped and
   * came back while it waited. Core NATS delivers at most once: a request or reply inside a server that died, or
   * routed to a connection being re-established, is lost. The gateway answers a repeated key with the first
   * call's result (waiting for it if it still runs) and runs nothing again.
   */
  private async natsRequestAcrossReconnects(fn: string, event: Event, h: MsgHdrs): Promise<Msg> {
    h.set("Nats-Msg-Id", `chaos-${randomBytes(8).toString("hex")}`);
    const deadline = Date.now() + CALL_TIMEOUT_MS;
    for (let sent = 0; ; sent++) {
      const left = deadline - Date.now();
      const last = sent >= NATS_RESENDS || left <= NATS_ATTEMPT_MS;
      const back = this.nextReconnect();
      const reply = this.f.bus.request(invokeSubject(fn), JSON.stringify(event), { timeout: Math.max(1, last ? left : NATS_ATTEMPT_MS), headers: h });
      try {
        const why = (err: Error) => (err.name === "TimeoutError" ? "no reply" : /no responders/i.test(err.message) ? "no responders" : undefined);
        const first = await Promise.race([reply.catch((err: Error) => (last || !why(err) ? Promise.reject(err) : why(err)!)), back.promise]);
        if (typeof first !== "string") return first;
        // No gateway subscribed at this instant (one restarting, the other's interest not yet routed): pause.
        if (first === "no responders") await new Promise((r) => setTimeout(r, 250));
        if (last) return await reply;
        reply.catch(() => undefined); // superseded by the resend
      } finally {
        back.cancel();
      }
    }
  }

  private async nats(fn: string, event: Event, async: boolean): Promise<Result> {
    const h = natsHeaders();
    if (async) h.set("Weft-Async", "true");
    const msg = this.f.cluster && !async ? await this.natsRequestAcrossReconnects(fn, event, h) : await this.f.bus.request(invokeSubject(fn), JSON.stringify(event), { timeout: async ? ASYNC_CALL_TIMEOUT_MS : CALL_TIMEOUT_MS, headers: h });
    if (msg.headers?.get("Weft-Error-Code")) throw new Error(`NATS ${msg.headers.get("Weft-Error-Code")}`);
    const body = msg.json<Result & { error?: { code?: string } }>();
    if (async) return { invocationId: body.invocationId, status: "queued" };
    if (body.status === "running") return { invocationId: body.invocationId, status: "accepted" };
    return { invocationId: body.invocationId, status: body.status, output: body.output, errorCode: body.error?.code };
  }
}

/** The most times a sync NATS request is sent again after the runner's connection dropped. */
const NATS_RESENDS = 4;
/** A sync NATS request without a reply this long is sent again with its key (the call takes ~20 ms plus queueing). */
const NATS_ATTEMPT_MS = 5000;

/** Drives a scenario's load and keeps its ledger: every accepted invocation id and what it should end as. */
export class Load {
  readonly accepted = new Map<string, Accepted>();
  readonly sync: SyncStats = { ok: 0, failedOutcome: 0, failedRetryable: 0, wrong: 0, late: 0 };
  asyncRefused = 0;
  /** Why sync calls failed retryably: "<client>: <error>" → count. */
  readonly syncFailures = new Map<string, number>();
  private stopSync = false;
  private running: Promise<unknown>[] = [];
  private readonly clients: Clients;
  private readonly kinds: ClientKind[] = ["http", "grpc", "nats"];
  private n = 0;

  constructor(private readonly f: ChaosFabric, private readonly fns: string[], private readonly s: LoadSettings) {
    this.clients = new Clients(f);
  }

  start(): void {
    this.running.push(this.submitAsync());
    for (let w = 0; w < this.s.syncWorkers; w++) this.running.push(this.syncLoop(w));
  }

  /** Async calls in flight or queued: accepted and not yet seen final on the bus. */
  pendingAsync(): number {
    let n = 0;
    for (const [id, a] of this.accepted) if (a.mode === "async" && !this.f.finalsSeen.has(id)) n++;
    return n;
  }

  /** Stops starting sync calls and waits for the async submissions; sync calls in flight go on. */
  async stopSubmitting(): Promise<void> {
    this.stopSync = true;
    await this.running[0];
  }

  async finish(): Promise<void> {
    this.stopSync = true;
    await Promise.all(this.running);
    this.clients.close();
  }

  private async submitAsync(): Promise<void> {
    const started = Date.now();
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < this.s.asyncCount; i++) {
      const due = started + (this.s.spreadMs * i) / this.s.asyncCount;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      const fail = this.s.failEvery > 0 && i % this.s.failEvery === this.s.failEvery - 1;
      const fn = this.fns[i % this.fns.length]!;
      const kind = this.kinds[Math.floor(i / this.fns.length) % this.kinds.length]!;
      inflight.push(this.submitOne(kind, fn, { sleepMs: this.s.sleepMs, fail, tag: `a${i}` }));
    }
    await Promise.all(inflight);
  }

  /** Submits one async call; a refusal (the fabric is down) is retried a few times, as a client would. */
  private async submitOne(kind: ClientKind, fn: string, event: Event): Promise<void> {
    for (let tries = 0; tries < 20; tries++) {
      try {
        const r = await this.clients.call(kind, fn, event, true);
        if (!r.invocationId) throw new Error("no invocation id");
        this.accepted.set(r.invocationId, { fn, client: kind, mode: "async", expect: { status: event.fail ? "error" : "ok", errorCode: event.fail ? "HANDLER_ERROR" : undefined }, acceptedAt: Date.now() });
        return;
      } catch {
        this.asyncRefused++;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** Adds one invocation the scenario submitted itself. */
  add(id: string, a: Accepted): void {
    this.accepted.set(id, a);
  }

  private async syncLoop(w: number): Promise<void> {
    while (!this.stopSync) {
      const i = this.n++;
      const fn = this.fns[(i + w) % this.fns.length]!;
      const kind = this.kinds[i % this.kinds.length]!;
      try {
        const r = await this.clients.call(kind, fn, { sleepMs: 20, tag: `s${i}-${randomBytes(2).toString("hex")}` }, false);
        if (!r.invocationId) throw new Error("no invocation id");
        if (r.status === "accepted") {
          // The sync wait ran out (202): the call is accepted and must still end, ok.
          this.accepted.set(r.invocationId, { fn, client: kind, mode: "sync", expect: { status: "ok" }, acceptedAt: Date.now() });
          this.sync.late++;
          continue;
        }
        // The record must say what the caller was told.
        this.accepted.set(r.invocationId, { fn, client: kind, mode: "sync", expect: { status: r.status as Expectation["status"], errorCode: r.errorCode }, acceptedAt: Date.now() });
        if (r.status === "ok") {
          const out = r.output as { id?: string } | undefined;
          if (out?.id === r.invocationId) this.sync.ok++;
          else this.sync.wrong++;
        } else this.sync.failedOutcome++;
      } catch (err) {
        this.sync.failedRetryable++;
        const why = `${kind}: ${String((err as Error).message).slice(0, 120)}`;
        this.syncFailures.set(why, (this.syncFailures.get(why) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}
