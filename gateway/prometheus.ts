// GET /metrics: the fabric in the Prometheus text format (prom-client), from what the gateway hears anyway.
// Nothing here is on an invocation's path: invocation counts come from the final records the agents already
// publish (a plain NATS subscription beside the records stream), pool gauges from the agents' heartbeats, and
// queue depth and service health are read at scrape time. Every gateway hears every record, so each one's
// /metrics covers the whole fabric: scrape one, or take max() across gateways, never sum().
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { z } from "zod";
import type { Logger } from "../shared/logger.js";
import { RecordEvent } from "../shared/schemas/invocation.js";
import { DEAD_LETTERS_STREAM, DEAD_LETTERS_SUBJECT_PREFIX, JOBS_CONSUMER, JOBS_STREAM, RECORDS_SUBJECT_PREFIX } from "../shared/subjects.js";
import { DEAD_LETTER_REASONS } from "../shared/async-jobs.js";
import { recordsIn } from "../shared/records.js";
import type { AgentRegistry } from "./agent-registry.js";
import type { ControllerClient } from "./controller-client.js";
import type { FunctionCache } from "./function-cache.js";
import type { NatsLink } from "./nats-link.js";

/** The fields of a record the metrics count: the event, output and logs it also carries are not validated here. */
const RecordCounted = RecordEvent.pick({ invocationId: true, functionName: true, phase: true, status: true, durationMs: true, coldStart: true });

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Seconds: from a warm call's overhead to the longest timeout (900 s). */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];
/** A scrape waits at most this long for JetStream and the controller. */
const SCRAPE_PROBE_MS = 1000;
/** Final records published again (an agent's outbox after an outage) are counted once: ids seen lately. */
const SEEN_IDS = 10_000;

/** What the heartbeat says about pools, when the agent reports them per runtime × isolation. */
const HeartbeatPools = z.object({
  pools: z.array(z.object({ runtime: z.string(), isolation: z.string(), idle: z.number(), busy: z.number(), starting: z.number(), stemCells: z.number() })).optional(),
});

export interface PrometheusDeps {
  nc: NatsConnection;
  link: NatsLink;
  agents: AgentRegistry;
  cache: FunctionCache;
  controller: ControllerClient;
  log: Logger;
}

/**
 * The last `capacity` ids added, the oldest forgotten first. The oldest is found in a ring, not as a Set's first
 * entry: after many deletions at its front, V8 walks the holes they left on every `values().next()`, which cost
 * 4.4 us per record heard at 10,000 ids against 0.1 us with the ring.
 */
export class RecentIds {
  private readonly ids = new Set<string>();
  private readonly ring: Array<string | undefined>;
  private at = 0;

  constructor(private readonly capacity: number) {
    this.ring = new Array<string | undefined>(capacity);
  }

  /** Adds `id`; false when it is already among the last `capacity`. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    const oldest = this.ring[this.at];
    if (oldest !== undefined) this.ids.delete(oldest);
    this.ring[this.at] = id;
    this.at = (this.at + 1) % this.capacity;
    this.ids.add(id);
    return true;
  }

  get size(): number {
    return this.ids.size;
  }
}

/** One function's final records of one status, in one message. */
interface Tally {
  fn: string;
  status: string;
  ended: number;
  cold: number;
}

export class FabricMetrics {
  readonly registry = new Registry();
  private readonly sub: Subscription;
  private readonly seen = new RecentIds(SEEN_IDS);
  /** The label sets of weft_invocations_total per function, to end them when the function is deleted. */
  private readonly series = new Map<string, Set<string>>();
  private readonly invocations: Counter<"function" | "status" | "isolation">;
  private readonly durations: Histogram<"function">;
  private readonly coldStarts: Counter<"function">;
  private readonly deadSub: Subscription;
  private readonly deadLetters: Counter<"function" | "reason">;
  private readonly redrives: Counter<"function">;

  constructor(private readonly d: PrometheusDeps) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, labels: { component: "gateway" } });
    this.invocations = new Counter({
      name: "weft_invocations_total",
      help: "Invocations that ended, by function, final status (ok, error, timeout, killed) and isolation",
      labelNames: ["function", "status", "isolation"],
      registers,
    });
    this.durations = new Histogram({
      name: "weft_invocation_duration_seconds",
      help: "How long the handler ran, per ended invocation",
      labelNames: ["function"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.coldStarts = new Counter({ name: "weft_cold_starts_total", help: "Invocations that waited for a container to start", labelNames: ["function"], registers });
    this.deadLetters = new Counter({ name: "weft_dead_letters_total", help: "Async invocations dead-lettered, by function and reason (failed, expired, chain-too-deep)", labelNames: ["function", "reason"], registers });
    this.redrives = new Counter({ name: "weft_dead_letters_redriven_total", help: "Dead letters re-driven through this gateway", labelNames: ["function"], registers });
    this.gauges(registers);
    this.sub = d.nc.subscribe(`${RECORDS_SUBJECT_PREFIX}.*`, { callback: (err, msg) => { if (!err) this.heard(msg.data); } });
    // Dead letters are heard as they are stored, like records: a plain subscription beside the stream.
    this.deadSub = d.nc.subscribe(`${DEAD_LETTERS_SUBJECT_PREFIX}.*.*`, { callback: (err, msg) => { if (!err) this.heardDeadLetter(msg.subject, msg.data); } });
  }

  async text(): Promise<string> {
    this.forgetDeleted();
    return this.registry.metrics();
  }

  stop(): void {
    this.sub.unsubscribe();
    this.deadSub.unsubscribe();
  }

  redriven(fn: string, n: number): void {
    this.redrives.inc({ function: fn }, n);
  }

  /** The reason is read from the document's head: the event after it may be megabytes and is not needed here. */
  private heardDeadLetter(subject: string, data: Uint8Array): void {
    const [, , fn, id] = subject.split(".");
    if (!fn || !id || !this.seen.add(`dead.${id}`)) return;
    const head = Buffer.from(data.buffer, data.byteOffset, Math.min(data.length, 512)).toString("utf8");
    const reason = /"reason":"([a-z-]+)"/.exec(head)?.[1];
    const known = DEAD_LETTER_REASONS.find((r) => r === reason) ?? "failed";
    this.deadLetters.inc({ function: fn, reason: known });
    this.labelled(fn);
  }

  /**
   * Counts the final records of one message (an agent's batch holds several, often of one function): the counters
   * go up once per label set of the message, not once per record, and each function's histogram is looked up once.
   */
  private heard(data: Uint8Array): void {
    const tally = new Map<string, Tally>();
    const histograms = new Map<string, { observe(value: number): void }>();
    for (const item of recordsIn(data)) {
      // Not a record: the controller's ingest reports it; metrics only count what they can read.
      const parsed = RecordCounted.safeParse(item);
      if (!parsed.success) continue;
      const r = parsed.data;
      const status = r.status;
      if (r.phase !== "final" || !status || !this.seen.add(r.invocationId)) continue;
      const key = `${r.functionName}\u0000${status}`;
      let t = tally.get(key);
      if (!t) {
        t = { fn: r.functionName, status, ended: 0, cold: 0 };
        tally.set(key, t);
      }
      t.ended++;
      if (r.coldStart) t.cold++;
      if (r.durationMs !== undefined) {
        let h = histograms.get(r.functionName);
        if (!h) histograms.set(r.functionName, (h = this.durations.labels({ function: r.functionName })));
        h.observe(r.durationMs / 1000);
      }
    }
    for (const t of tally.values()) {
      // A function's label set lasts as long as the function: names are bounded by what is deployed.
      const isolation = this.d.cache.get(t.fn)?.isolation ?? "unknown";
      this.invocations.inc({ function: t.fn, status: t.status, isolation }, t.ended);
      this.labelled(t.fn).add(JSON.stringify({ status: t.status, isolation }));
      if (t.cold > 0) this.coldStarts.inc({ function: t.fn }, t.cold);
    }
  }

  private labelled(fn: string): Set<string> {
    let sets = this.series.get(fn);
    if (!sets) this.series.set(fn, (sets = new Set()));
    return sets;
  }

  /** A deleted function's series end, so the function label only takes the names of deployed functions. */
  private forgetDeleted(): void {
    if (!this.d.cache.isReady) return;
    for (const [fn, sets] of this.series) {
      if (this.d.cache.get(fn)) continue;
      for (const labels of sets) this.invocations.remove({ function: fn, ...(JSON.parse(labels) as { status: string; isolation: string }) });
      this.durations.remove({ function: fn });
      this.coldStarts.remove({ function: fn });
      for (const reason of DEAD_LETTER_REASONS) this.deadLetters.remove({ function: fn, reason });
      this.redrives.remove({ function: fn });
      this.series.delete(fn);
    }
  }

  private gauges(registers: Registry[]): void {
    const { agents, link } = this.d;
    new Gauge({
      name: "weft_agents",
      help: "Agents heard from within WEFT_AGENT_SEEN_MS",
      registers,
      collect() { this.set(agents.fresh().length); },
    });
    new Gauge({
      name: "weft_agent_slots",
      help: "Invocation slots of the live agents: busy (running a call) or free",
      labelNames: ["state"],
      registers,
      collect() {
        const live = agents.fresh();
        const busy = live.reduce((n, a) => n + a.busy, 0);
        this.set({ state: "busy" }, busy);
        this.set({ state: "free" }, Math.max(0, live.reduce((n, a) => n + a.slots, 0) - busy));
      },
    });
    new Gauge({
      name: "weft_containers",
      help: "Containers on the live agents by runtime, isolation and state (idle, busy, starting, stem_cell); runtime and isolation are \"all\" for agents that report only totals",
      labelNames: ["runtime", "isolation", "state"],
      registers,
      collect() {
        this.reset();
        for (const a of agents.fresh()) addContainers(this, a);
      },
    });
    new Gauge({
      name: "weft_nats_up",
      help: "1 when this gateway's NATS connection is up",
      registers,
      collect() { this.set(link.up ? 1 : 0); },
    });
    const self = this;
    new Gauge({
      name: "weft_queue_depth",
      help: "Invocations queued in JetStream that no agent has taken yet",
      registers,
      async collect() { this.set(await self.queueDepth()); },
    });
    new Gauge({
      name: "weft_dead_letters",
      help: "Dead letters stored in WEFT_DEAD_LETTERS now (all functions)",
      registers,
      async collect() { this.set(await self.deadLettersStored()); },
    });
    new Gauge({
      name: "weft_mongodb_up",
      help: "1 when the controller reaches MongoDB (0 also when no controller answers)",
      registers,
      async collect() { this.set(await self.mongoUp()); },
    });
  }

  private async queueDepth(): Promise<number> {
    if (!this.d.link.up) return Number.NaN;
    try {
      const jsm = await jetstreamManager(this.d.nc, { timeout: SCRAPE_PROBE_MS });
      return (await jsm.consumers.info(JOBS_STREAM, JOBS_CONSUMER)).num_pending;
    } catch (err) {
      this.d.log.debug({ err }, "queue depth unavailable for /metrics");
      return Number.NaN;
    }
  }

  private async deadLettersStored(): Promise<number> {
    if (!this.d.link.up) return Number.NaN;
    try {
      const jsm = await jetstreamManager(this.d.nc, { timeout: SCRAPE_PROBE_MS });
      return (await jsm.streams.info(DEAD_LETTERS_STREAM)).state.messages;
    } catch (err) {
      this.d.log.debug({ err }, "dead letters unavailable for /metrics");
      return Number.NaN;
    }
  }

  private async mongoUp(): Promise<number> {
    if (!this.d.link.up) return 0;
    try {
      return (await this.d.controller.health(SCRAPE_PROBE_MS)).mongo === "ok" ? 1 : 0;
    } catch {
      return 0;
    }
  }
}

function addContainers(g: Gauge<"runtime" | "isolation" | "state">, agent: object): void {
  const pools = HeartbeatPools.safeParse(agent);
  if (pools.success && pools.data.pools) {
    for (const p of pools.data.pools) {
      const labels = { runtime: p.runtime, isolation: p.isolation };
      g.inc({ ...labels, state: "idle" }, p.idle);
      g.inc({ ...labels, state: "busy" }, p.busy);
      g.inc({ ...labels, state: "starting" }, p.starting);
      g.inc({ ...labels, state: "stem_cell" }, p.stemCells);
    }
    return;
  }
  const a = agent as { containers: number; stemCells: number; busy: number };
  const all = { runtime: "all", isolation: "all" };
  g.inc({ ...all, state: "busy" }, a.busy);
  g.inc({ ...all, state: "idle" }, Math.max(0, a.containers - a.busy - a.stemCells));
  g.inc({ ...all, state: "stem_cell" }, a.stemCells);
}
