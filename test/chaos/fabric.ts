// The chaos suite's private fabric: its own nats-server (own port and store), its own FerretDB (own port and
// SQLite files), one controller, one gateway and two agents, each a separate process the runner controls.
// Agent "b" reaches NATS through a PartitionProxy so it can be cut off while it keeps running.
//
// The cluster fabric (`cluster: true`) is the same with three clustered nats-servers and R3 streams (as
// `npm run up -- --nats-cluster 3` runs them), two controllers, two gateways, and each agent, gateway and
// controller on a host of its own: a network namespace joined to the servers and FerretDB by a veth pair
// (test/chaos/hosts.ts), cut off by dropping its packets. The runner's clients reach the gateways at their hosts'
// addresses.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { MongoClient } from "mongodb";
import { freePort, natsServerBinary, natsServerEnv } from "../harness/nats.js";
import { ferretdbBinary, ferretdbEnv } from "../harness/ferretdb.js";
import { LIMITS } from "../../shared/limits.js";
import { AGENT_HEARTBEAT_SUBJECT, JOBS_STREAM, RECORDS_SUBJECT_PREFIX, controllerSubject } from "../../shared/subjects.js";
import { Proc } from "./processes.js";
import { readDoc, type InvocationDoc, type StoredDoc } from "../../controller/invocation-records.js";
import { PartitionProxy } from "./partition-proxy.js";
import { HostNetwork } from "./hosts.js";
import { batchScheduled, underBatch } from "../../shared/sched-batch.js";

const run = promisify(execFile);
export const ROOT = resolve(import.meta.dirname, "../..");

export const AGENTS = ["a", "b"] as const;
export type AgentName = (typeof AGENTS)[number];
export const NATS_NODES = ["nats-1", "nats-2", "nats-3"] as const;
export type NatsNode = (typeof NATS_NODES)[number];
export type Gateway = "gateway" | "gateway-2";
export type Controller = "controller" | "controller-2";
export type Component = "nats" | NatsNode | "mongo" | Controller | Gateway | `agent-${AgentName}`;

/** The cluster fabric's hosts (network namespaces), by the component that runs on each. */
const HOST_OF = { "agent-a": "a", "agent-b": "b", gateway: "g1", "gateway-2": "g2", controller: "c1", "controller-2": "c2" } as const;
type HostedComponent = keyof typeof HOST_OF;

export interface FabricPorts {
  /** one client port per nats-server (three on a cluster) */
  nats: number[];
  /** the cluster's route ports (none on a single server) */
  routes: number[];
  mongo: number;
  /** one HTTP and one gRPC port per gateway (two on a cluster) */
  http: number[];
  grpc: number[];
  proxy: number;
}

export interface FabricSettings {
  ackWaitMs: number;
  maxDeliver: number;
  agentSlots: number;
}

/** A final record as an agent (or the controller) published it, seen on the records subject. */
export interface TappedFinal {
  /** when the runner saw it published */
  at: number;
  attempt?: number;
  status?: string;
  agent?: string;
  output?: string;
  errorCode?: string;
}

export interface StoredFinal {
  _id: string;
  status?: string;
  attempt?: number;
  outputJson?: string;
  error?: { code?: string };
  agent?: string;
}

export class ChaosFabric {
  readonly procs = new Map<Component, Proc>();
  readonly finalsSeen = new Map<string, TappedFinal[]>();
  /** invocation id → every delivery seen running: which agent held it, and when it started (the agent's clock). */
  readonly deliveries = new Map<string, Array<{ agent?: string; attempt?: number; at: number }>>();
  /** agent id → when the scenario SIGKILLed it. */
  readonly agentKills = new Map<string, number[]>();
  readonly heartbeats = new Map<string, { busy: number; containers: number; at: number }>();
  readonly agentIds: Record<AgentName, string>;
  private nc!: NatsConnection;
  private mongo!: MongoClient;
  private proxy?: PartitionProxy;
  private network?: HostNetwork;
  private subs: Subscription[] = [];

  private constructor(
    readonly settings: FabricSettings,
    readonly dir: string,
    readonly logDir: string,
    readonly ports: FabricPorts,
    readonly dbName: string,
    readonly cluster: boolean,
  ) {
    const tag = randomBytes(3).toString("hex");
    this.agentIds = { a: `chaos-${tag}-a`, b: `chaos-${tag}-b` };
  }

  get httpUrl(): string {
    return this.httpUrls[0]!;
  }
  get grpcAddress(): string {
    return this.grpcAddresses[0]!;
  }
  /** Every gateway's HTTP base URL (on a cluster, at its host's address): a client fails over between them. */
  get httpUrls(): string[] {
    return this.gateways.map((g, i) => `http://${this.gatewayHost(g)}:${this.ports.http[i]}`);
  }
  get grpcAddresses(): string[] {
    return this.gateways.map((g, i) => `${this.gatewayHost(g)}:${this.ports.grpc[i]}`);
  }
  /** The address a gateway listens on: loopback, or on a cluster its host's. */
  gatewayHost(g: Gateway): string {
    return this.network?.host(HOST_OF[g]).address ?? "127.0.0.1";
  }
  /**
   * Where the nats-servers and FerretDB listen: loopback, or on a cluster the root namespace's address on the hosts'
   * bridge (the components on hosts reach them there).
   */
  get natsHost(): string {
    return this.network?.rootAddress ?? "127.0.0.1";
  }
  /** Every server's URL, comma-separated (WEFT_NATS_URL): a client fails over between them. */
  get natsUrl(): string {
    return this.ports.nats.map((p) => `nats://${this.natsHost}:${p}`).join(",");
  }
  /** The fabric's nats-server components. */
  get natsNodes(): Array<"nats" | NatsNode> {
    return this.cluster ? [...NATS_NODES] : ["nats"];
  }
  get gateways(): Gateway[] {
    return this.cluster ? ["gateway", "gateway-2"] : ["gateway"];
  }
  /** The controllers: one, or on a cluster two (a queue group shares their API; both ingest records). */
  get controllers(): Controller[] {
    return this.cluster ? ["controller", "controller-2"] : ["controller"];
  }
  get mongoUrl(): string {
    return `mongodb://${this.natsHost}:${this.ports.mongo}`;
  }
  get bus(): NatsConnection {
    return this.nc;
  }
  /** Cuts an agent off from NATS while it keeps running: a proxy holds its bytes, or (cluster) its host drops them. */
  async cutAgent(a: AgentName): Promise<void> {
    if (this.network) await this.network.partition(a);
    else this.proxy!.partition();
  }

  async healAgent(a: AgentName): Promise<void> {
    if (this.network) await this.network.heal(a);
    else this.proxy!.heal();
  }

  proc(c: Component): Proc {
    const p = this.procs.get(c);
    if (!p) throw new Error(`no component ${c}`);
    return p;
  }

  /** Which agent holds a job, and on which attempt: its newest running record. */
  holder(invocationId: string): { agent?: string; attempt?: number } | undefined {
    return this.deliveries.get(invocationId)?.at(-1);
  }

  /** SIGKILLs an agent and remembers when: a job whose every delivery died this way truly ends killed. */
  async killAgent(a: AgentName): Promise<void> {
    const id = this.agentIds[a];
    this.agentKills.set(id, [...(this.agentKills.get(id) ?? []), Date.now()]);
    await this.proc(`agent-${a}`).signal("SIGKILL");
  }

  /**
   * Whether a job may truly have died with its agents: an agent was SIGKILLed after the job was accepted, and every
   * delivery seen running was on an agent SIGKILLed after it started. (A delivery's running record can die in its
   * agent's record batch, so a delivery that was never seen is not held against it; the audit also requires that no
   * attempt published an outcome.)
   */
  mayHaveDiedWithAgents(invocationId: string, acceptedAt: number): boolean {
    const kills = [...this.agentKills.values()].flat();
    if (!kills.some((at) => at >= acceptedAt)) return false;
    const seen = this.deliveries.get(invocationId) ?? [];
    return seen.every((d) => d.agent !== undefined && (this.agentKills.get(d.agent) ?? []).some((at) => at >= d.at));
  }

  static async start(settings: FabricSettings, logDir: string, opts: { cluster?: boolean } = {}): Promise<ChaosFabric> {
    const cluster = opts.cluster ?? false;
    const dir = await mkdtemp(join(tmpdir(), "weft-chaos-"));
    await mkdir(logDir, { recursive: true });
    const ports = async (n: number) => Promise.all(Array.from({ length: n }, () => freePort()));
    const fabricPorts: FabricPorts = {
      nats: await ports(cluster ? 3 : 1),
      routes: await ports(cluster ? 3 : 0),
      mongo: await freePort(),
      http: await ports(cluster ? 2 : 1),
      grpc: await ports(cluster ? 2 : 1),
      proxy: await freePort(),
    };
    const f = new ChaosFabric(settings, dir, logDir, fabricPorts, `weft_chaos_${randomBytes(3).toString("hex")}`, cluster);
    try {
      if (cluster) f.network = await HostNetwork.create(Object.values(HOST_OF));
      await f.define();
      await Promise.all(f.natsNodes.map((n) => f.proc(n).start()));
      await f.proc("mongo").start();
      if (!cluster) f.proxy = await PartitionProxy.start(fabricPorts.proxy, fabricPorts.nats[0]!);
      await f.connectObservers();
      if (cluster) await f.waitNatsCurrent();
      // The first controller declares the streams and consumer; the others wait for it (a second one finds them).
      await f.proc("controller").start();
      const rest = [...f.controllers.slice(1), ...f.gateways, "agent-a", "agent-b"] as const;
      await Promise.all(rest.map((c) => f.proc(c).start()));
      await f.waitHealthy();
      await f.waitAgentsBeating();
    } catch (err) {
      await f.stop().catch(() => undefined);
      throw err;
    }
    return f;
  }

  /** A nats-server's configuration: alone, or one node of the three-node cluster (as deploy/nats-servers.ts writes it). */
  private natsConfig(i: number): string {
    const lines = [
      `server_name: chaos-${this.dbName}-${i + 1}`,
      `listen: ${this.natsHost}:${this.ports.nats[i]}`,
      `max_payload: ${LIMITS.natsMaxPayloadBytes}`,
      `jetstream { store_dir: "${join(this.dir, this.cluster ? `js-${i + 1}` : "js")}" }`,
    ];
    if (this.cluster) {
      const routes = this.ports.routes.map((p) => `nats-route://127.0.0.1:${p}`);
      // no_advertise: the hosts reach the servers at the bridge address only, so the servers must not announce others.
      lines.push(`cluster { name: chaos-${this.dbName}, listen: 127.0.0.1:${this.ports.routes[i]}, routes: [${routes.join(", ")}], no_advertise: true }`);
    }
    return lines.join("\n");
  }

  /** The component name of the server that calls itself `serverName`. */
  natsNodeNamed(serverName: string): "nats" | NatsNode | undefined {
    const m = /-(\d)$/.exec(serverName);
    if (!this.cluster) return "nats";
    return m ? NATS_NODES[Number(m[1]) - 1] : undefined;
  }

  private async define(): Promise<void> {
    for (const [i, name] of this.natsNodes.entries()) {
      const conf = join(this.dir, `${name}.conf`);
      await writeFile(conf, this.natsConfig(i));
      // Under SCHED_BATCH and with half the cores as GOMAXPROCS, as Weft starts nats-server and FerretDB.
      this.procs.set(name, new Proc({ name, ...underBatch(natsServerBinary(), ["-c", conf], batchScheduled()), env: natsServerEnv(), readyPort: this.ports.nats[i], readyHost: this.natsHost }, this.logDir));
    }
    const ferretDir = join(this.dir, "ferret");
    await mkdir(ferretDir, { recursive: true });
    const replicas = { WEFT_STREAM_REPLICAS: String(this.cluster ? 3 : 1) };
    const node = (name: HostedComponent, dirName: string, env: Record<string, string>, ready: { port?: number; host?: string; line?: RegExp } = {}) => {
      const line = { command: process.execPath, args: ["--import", "tsx", join(ROOT, dirName, "main.ts")] };
      const { command, args } = this.network ? this.network.wrap(HOST_OF[name], line.command, line.args) : line;
      const spec = { name, command, args, cwd: ROOT, env: { WEFT_LOG_LEVEL: "info", ...replicas, ...env }, readyPort: ready.port, readyHost: ready.host, readyLine: ready.line };
      this.procs.set(name, new Proc(spec, this.logDir));
    };
    this.procs.set(
      "mongo",
      new Proc(
        {
          name: "mongo",
          ...underBatch(ferretdbBinary(), ["--handler=sqlite", `--sqlite-url=file:${ferretDir}/`, `--state-dir=${ferretDir}`, `--listen-addr=${this.natsHost}:${this.ports.mongo}`, "--debug-addr=-", "--telemetry=disable", "--log-level=error"], batchScheduled()),
          env: ferretdbEnv(),
          readyPort: this.ports.mongo,
          readyHost: this.natsHost,
        },
        this.logDir,
      ),
    );
    for (const c of this.controllers) {
      const env = {
        WEFT_NATS_URL: this.natsUrl,
        WEFT_MONGO_URL: this.mongoUrl,
        WEFT_MONGO_DB: this.dbName,
        WEFT_JOB_ACK_WAIT_MS: String(this.settings.ackWaitMs),
        WEFT_JOB_MAX_DELIVER: String(this.settings.maxDeliver),
        WEFT_SYNTAX_CHECK: "false",
      };
      // No port: it is started once it says so, after its API subscribed (controller/app.ts).
      node(c, "controller", env, { line: /"msg":"controller started"/ });
    }
    for (const [i, g] of this.gateways.entries()) {
      const host = this.gatewayHost(g);
      const listen = { WEFT_HTTP_HOST: host, WEFT_HTTP_PORT: String(this.ports.http[i]), WEFT_GRPC_HOST: host, WEFT_GRPC_PORT: String(this.ports.grpc[i]) };
      node(g, "gateway", { WEFT_NATS_URL: this.natsUrl, ...listen, WEFT_AGENT_SEEN_MS: "3000", WEFT_SYNC_WAIT_MS: "15000" }, { port: this.ports.http[i], host });
    }
    for (const a of AGENTS) {
      node(`agent-${a}`, "agents", {
        WEFT_NATS_URL: a === "b" && !this.cluster ? `nats://127.0.0.1:${this.ports.proxy}` : this.natsUrl,
        WEFT_AGENT_ID: this.agentIds[a],
        WEFT_AGENT_OUTBOX_DIR: join(this.dir, `outbox-${a}`),
        WEFT_AGENT_SLOTS: String(this.settings.agentSlots),
        WEFT_STEM_CELLS: "0",
        WEFT_BUILD_IMAGES: "false",
        WEFT_HEARTBEAT_MS: "500",
        WEFT_RUNNING_RECORD_AFTER_MS: "100",
        WEFT_DRAIN_TIMEOUT_MS: "10000",
      });
    }
  }

  private async connectObservers(): Promise<void> {
    this.nc = await connect({ servers: this.natsUrl.split(","), maxReconnectAttempts: -1, reconnectTimeWait: 100, name: "chaos-observer" });
    const records = this.nc.subscribe(`${RECORDS_SUBJECT_PREFIX}.>`, {
      callback: (_e, m) => {
        try {
          type Seen = { invocationId: string; phase: string; attempt?: number; status?: string; agent?: string; startedAt?: number; output?: string; error?: { code?: string } };
          // An agent's records come in batches (a JSON array on weft.records._batch).
          const data = m.json<Seen | Seen[]>();
          for (const r of Array.isArray(data) ? data : [data]) {
            if (r.phase === "running") {
              const list = this.deliveries.get(r.invocationId) ?? [];
              // When the delivery started, by the agent's clock (this host's): a running record published just
              // before its agent's SIGKILL can reach this tap after the kill was noted, and the tap's own time
              // would then place the delivery after the kill that ended it.
              list.push({ agent: r.agent, attempt: r.attempt, at: typeof r.startedAt === "number" ? r.startedAt : Date.now() });
              this.deliveries.set(r.invocationId, list);
            }
            if (r.phase !== "final") continue;
            const list = this.finalsSeen.get(r.invocationId) ?? [];
            list.push({ at: Date.now(), attempt: r.attempt, status: r.status, agent: r.agent, output: r.output, errorCode: r.error?.code });
            this.finalsSeen.set(r.invocationId, list);
          }
        } catch {
          // Not a record: nothing to audit.
        }
      },
    });
    const beats = this.nc.subscribe(AGENT_HEARTBEAT_SUBJECT, {
      callback: (_e, m) => {
        try {
          const s = m.json<{ agentId: string; busy: number; containers: number }>();
          this.heartbeats.set(s.agentId, { busy: s.busy, containers: s.containers, at: Date.now() });
        } catch {
          // ignore
        }
      },
    });
    this.subs = [records, beats];
    this.mongo = new MongoClient(this.mongoUrl, { serverSelectionTimeoutMS: 2000 });
  }

  /** Busy slots an agent announced within the last 2 s (0 when it is silent). */
  busy(a: AgentName): number {
    const hb = this.heartbeats.get(this.agentIds[a]);
    return hb && Date.now() - hb.at < 2000 ? hb.busy : 0;
  }

  async waitHealthy(timeoutMs = 90_000): Promise<void> {
    for (const url of this.httpUrls) await this.waitGatewayHealthy(url, timeoutMs);
  }

  private async waitGatewayHealthy(url: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      const res = await fetch(`${url}/healthz`).then(async (r) => ({ status: r.status, text: await r.text() }), (e: Error) => ({ status: 0, text: e.message }));
      if (res.status === 200) return;
      last = res.text;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`fabric not healthy (${url}): ${last}`);
  }

  /**
   * On a cluster: every stream (the buckets' too) has a leader and all its replicas current, so one more node may
   * go without losing a quorum. A restarted node catches up after it listens; only then may the next one go.
   */
  async waitNatsCurrent(timeoutMs = 90_000): Promise<void> {
    if (!this.cluster) return;
    const deadline = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      try {
        const jsm = await jetstreamManager(this.nc, { timeout: 2000 });
        const lagging: string[] = [];
        for await (const si of jsm.streams.list()) {
          const c = si.cluster;
          const replicas = c?.replicas ?? [];
          const want = (si.config.num_replicas ?? 1) - 1;
          if (!c?.leader || replicas.length < want || replicas.some((r) => !r.current || r.offline)) {
            lagging.push(`${si.config.name} (R${want + 1}, leader ${c?.leader ?? "none"}, ${replicas.map((r) => `${r.name}${r.current ? "" : " behind"}${r.offline ? " offline" : ""}`).join(", ")})`);
          }
        }
        if (lagging.length === 0) return;
        last = `not current: ${lagging.join(", ")}`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`the NATS cluster did not catch up: ${last}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** The nats-server leading a stream (on a single server, that server). */
  async streamLeader(stream: string): Promise<"nats" | NatsNode> {
    const jsm = await jetstreamManager(this.nc, { timeout: 2000 });
    const info = await jsm.streams.info(stream);
    const leader = info.cluster?.leader ? this.natsNodeNamed(info.cluster.leader) : "nats";
    if (!leader) throw new Error(`stream ${stream} has no leader`);
    return leader;
  }

  async waitAgentsBeating(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const since = Date.now();
    while (Date.now() < deadline) {
      if (AGENTS.every((a) => (this.heartbeats.get(this.agentIds[a])?.at ?? 0) > since)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("agents did not announce themselves");
  }

  /** Restarts a component after a kill (or starts it again after a stop) and waits for it to be serving. */
  async restart(c: Component): Promise<void> {
    const p = this.proc(c);
    if (p.running) await p.stop();
    await p.start();
    if (c.startsWith("agent-")) await this.waitAgentBeating(c.slice("agent-".length) as AgentName);
    if (c === "gateway" || c === "gateway-2") await this.waitHealthy();
    if (c.startsWith("nats-")) await this.waitNatsCurrent();
    if (c === "controller" || c === "controller-2") await this.waitControllerServing();
  }

  /**
   * The controller has no port: it is back once its API answers on NATS, which it subscribes after its record
   * ingest started (a start takes seconds on a loaded machine, and is not the records' delay).
   */
  async waitControllerServing(timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.nc.request(controllerSubject("functions.list"), "{}", { timeout: 2000 });
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`the controller did not answer: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async waitAgentBeating(a: AgentName, timeoutMs = 60_000): Promise<void> {
    const since = Date.now();
    const deadline = since + timeoutMs;
    while ((this.heartbeats.get(this.agentIds[a])?.at ?? 0) <= since) {
      if (Date.now() > deadline) throw new Error(`agent ${a} did not come back`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async storedFinals(ids: string[]): Promise<Map<string, StoredFinal>> {
    const out = new Map<string, StoredFinal>();
    const col = this.mongo.db(this.dbName).collection<StoredDoc>("invocations");
    for (let i = 0; i < ids.length; i += 500) {
      const docs = await col.find({ _id: { $in: ids.slice(i, i + 500) } }, { projection: { status: 1, fieldsJson: 1, attempt: 1, outputJson: 1, error: 1, agent: 1 } }).toArray();
      for (const d of docs) {
        const { status, attempt, outputJson, error, agent } = readDoc(d) as InvocationDoc;
        out.set(d._id, { _id: d._id, status, attempt, outputJson, error, agent });
      }
    }
    return out;
  }

  /** Messages left in WEFT_JOBS. */
  async jobsLeft(): Promise<number> {
    const jsm = await jetstreamManager(this.nc);
    const info = await jsm.streams.info(JOBS_STREAM);
    return info.state.messages;
  }

  /** Containers labelled with this fabric's agent ids. */
  async containers(): Promise<string[]> {
    const ids: string[] = [];
    for (const a of AGENTS) {
      const { stdout } = await run("docker", ["ps", "-aq", "--filter", `label=weft.agent=${this.agentIds[a]}`]);
      ids.push(...stdout.split("\n").filter(Boolean));
    }
    return ids;
  }

  /** Stops every component gracefully; returns the containers the agents left behind (then removes them). */
  async stop(): Promise<{ orphans: number }> {
    for (const c of [...this.gateways, "agent-a", "agent-b", ...this.controllers] as const) await this.procs.get(c)?.stop().catch(() => undefined);
    const left = await this.containers().catch(() => []);
    // Only this fabric's own containers (labelled with its agent ids) are removed.
    if (left.length > 0) await run("docker", ["rm", "-f", ...left]).catch(() => undefined);
    for (const s of this.subs) s.unsubscribe();
    await this.nc?.close().catch(() => undefined);
    await this.mongo?.close().catch(() => undefined);
    await this.proxy?.close();
    await this.procs.get("mongo")?.stop();
    for (const n of this.natsNodes) await this.procs.get(n)?.stop();
    for (const p of this.procs.values()) p.close();
    await this.network?.remove();
    await rm(this.dir, { recursive: true, force: true });
    return { orphans: left.length };
  }
}
