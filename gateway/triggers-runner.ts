// Runs triggers. Every gateway watches the weft-triggers bucket and runs each active trigger itself; they share the
// work so each message or tick runs once per trigger:
//   subject   a core NATS subscription in the queue group weft-trigger-{id}: each message goes to one gateway;
//   stream    the durable pull consumer weft-trigger-{id} on the user's stream, fetched by every gateway;
//   schedule  every gateway arms a timer for the next tick; the tick is claimed with a KV create first, so one wins.
// A trigger whose function was deleted (its incarnation gone) or that is paused runs nowhere.
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { Msg, MsgHdrs, NatsConnection, QueuedIterator, Subscription } from "@nats-io/transport-node";
import { asWeftError } from "../shared/errors.js";
import { HEADERS } from "../shared/headers.js";
import { LIMITS } from "../shared/limits.js";
import type { Logger } from "../shared/logger.js";
import { nextTick, parseSchedule, previousTick, type Schedule } from "../shared/schedule.js";
import { StoredTrigger, type TriggerSpec } from "../shared/schemas/trigger.js";
import { TRIGGER_PINNED_GROUP, triggerConsumer, triggerQueue } from "../shared/subjects.js";
import { triggerMessageOf } from "../shared/trigger-message.js";
import type { FunctionCache } from "./function-cache.js";
import type { InvocationInput, Invoker } from "./invoker.js";
import { STREAM_ACK_WAIT_MS, triggerState } from "./triggers-service.js";
import type { TriggerCounters } from "./triggers-store.js";

/** A missed tick (Weft down, the trigger paused) fires once on start if it was due within this; older ones are skipped. */
export const CATCH_UP_MS = 15 * 60_000;
/** How often runners are checked against the function cache (a deleted function disables its triggers). */
const RECHECK_MS = 1000;
/** A PUT waits at most this long for this gateway's runner to apply it. */
const APPLY_WAIT_MS = 2000;
const RETRY_MS = 1000;
/** Codes that say the message itself can never become an invocation: it is dropped (counted as failed). */
const POISON = new Set(["INVALID_ARGUMENT", "PAYLOAD_TOO_LARGE", "IDEMPOTENCY_MISMATCH"]);

export interface RunnerDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: () => Promise<JetStreamManager>;
  triggers: KV;
  /** The idempotency bucket: a schedule's tick is claimed there (key tick.{id}.{ms}) and expires with the keys. */
  ticks: KV;
  invoker: Invoker;
  cache: FunctionCache;
  counters: TriggerCounters;
  log: Logger;
}

interface Runner {
  stop(): Promise<void>;
}

export class TriggersRunner {
  private readonly known = new Map<string, { trigger: StoredTrigger; revision: number }>();
  private readonly running = new Map<string, { fingerprint: string; runner: Runner }>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly applied = new Map<string, number>();
  private readonly waiters = new Set<{ id: string; revision: number; done: () => void }>();
  private watch: QueuedIterator<KvWatchEntry> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly d: RunnerDeps) {}

  async start(): Promise<void> {
    await this.openWatch();
    this.timer = setInterval(() => { for (const id of new Set([...this.known.keys(), ...this.running.keys()])) this.reconcile(id); }, RECHECK_MS);
    this.timer.unref();
  }

  /** Resolves once this gateway has applied `revision` of the trigger (or after APPLY_WAIT_MS). */
  whenApplied(id: string, revision: number): Promise<void> {
    if ((this.applied.get(id) ?? 0) >= revision) return Promise.resolve();
    return new Promise((resolve) => {
      const w = { id, revision, done: () => { clearTimeout(t); this.waiters.delete(w); resolve(); } };
      const t = setTimeout(w.done, APPLY_WAIT_MS);
      this.waiters.add(w);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.watch?.stop();
    await Promise.allSettled([...this.chains.values()]);
    await Promise.allSettled([...this.running.values()].map((r) => r.runner.stop()));
    this.running.clear();
  }

  private async openWatch(): Promise<void> {
    const iter = await this.d.triggers.watch();
    this.watch = iter;
    void (async () => {
      try {
        for await (const e of iter) this.onEntry(e);
      } catch (err) {
        this.d.log.warn({ err }, "triggers watch failed");
      }
      if (!this.stopped) setTimeout(() => void this.openWatch().catch((err: unknown) => this.d.log.warn({ err }, "triggers watch could not restart")), RETRY_MS).unref();
    })();
  }

  private onEntry(e: KvWatchEntry): void {
    if (e.operation === "PUT") {
      const parsed = StoredTrigger.safeParse(e.json());
      if (parsed.success) this.known.set(e.key, { trigger: parsed.data, revision: e.revision });
      else this.d.log.warn({ trigger: e.key }, "a stored trigger does not parse; ignored");
    } else {
      this.known.delete(e.key);
    }
    this.reconcile(e.key, e.revision);
  }

  /** Starts, restarts or stops the trigger's runner to match its stored state; one step at a time per trigger. */
  private reconcile(id: string, revision?: number): void {
    const step = (this.chains.get(id) ?? Promise.resolve()).then(() => this.apply(id)).catch((err: unknown) => this.d.log.warn({ err, trigger: id }, "trigger runner failed to start; retrying"));
    const chained = step.finally(() => {
      if (revision !== undefined) this.markApplied(id, revision);
      if (this.chains.get(id) === chained) this.chains.delete(id);
    });
    this.chains.set(id, chained);
  }

  private async apply(id: string): Promise<void> {
    const entry = this.known.get(id);
    const active = entry && !this.stopped && triggerState(entry.trigger, this.d.cache) === "active";
    const fingerprint = entry ? JSON.stringify([entry.trigger.spec, entry.trigger.incarnation, entry.trigger.createdAt]) : "";
    const current = this.running.get(id);
    if (current && (!active || current.fingerprint !== fingerprint)) {
      this.running.delete(id);
      await current.runner.stop();
    }
    if (active && !this.running.has(id)) {
      this.running.set(id, { fingerprint, runner: await this.startRunner(entry.trigger) });
      this.d.log.info({ trigger: id, fn: entry.trigger.spec.function }, "trigger running on this gateway");
    }
  }

  private markApplied(id: string, revision: number): void {
    this.applied.set(id, Math.max(this.applied.get(id) ?? 0, revision));
    for (const w of this.waiters) if (w.id === id && w.revision <= revision) w.done();
  }

  private startRunner(t: StoredTrigger): Promise<Runner> {
    const spec = t.spec as TriggerSpec;
    if ("subject" in spec) return SubjectRunner.start(this.d, t, spec);
    if ("stream" in spec) return Promise.resolve(spec.ordering === "perSubject" ? new PerSubjectRunner(this.d, t, spec) : new StreamRunner(this.d, t, spec));
    return Promise.resolve(new ScheduleRunner(this.d, t, spec));
  }
}

/** The invocation a trigger makes of its function (its version or alias) with this event. */
function inputOf(t: StoredTrigger, event: Uint8Array, extra: Partial<InvocationInput> = {}): InvocationInput {
  const spec = t.spec as TriggerSpec;
  return { name: spec.function, version: spec.version, alias: spec.alias, event, via: "nats", ...extra };
}

/**
 * The chain depth a message carries (Weft-Chain-Depth, set on a subject destination's message; 0 when absent or not
 * a number): the invocation it starts runs at that depth, so a loop through a trigger ends like a destination loop.
 */
export function chainDepthOf(h: MsgHdrs | undefined): number {
  const text = h?.get(HEADERS.chainDepth) ?? "";
  return /^[0-9]{1,6}$/.test(text) ? Number(text) : 0;
}

/** Past LIMITS.chainDepth: the message is refused (counted as failed), never run. */
export const tooDeep = (depth: number): boolean => depth > LIMITS.chainDepth;

/** Core NATS: at most once until the gateway has stored the invocation (a message no gateway holds is gone). */
class SubjectRunner implements Runner {
  private constructor(private readonly sub: Subscription) {}

  static async start(d: RunnerDeps, t: StoredTrigger, spec: Extract<TriggerSpec, { subject: string }>): Promise<SubjectRunner> {
    const handle = async (msg: Msg) => {
      const chainDepth = chainDepthOf(msg.headers);
      if (tooDeep(chainDepth)) {
        d.counters.count(t.id, "failed");
        d.log.warn({ trigger: t.id, subject: msg.subject, code: "CHAIN_TOO_DEEP", depth: chainDepth }, "subject trigger message refused: chain too deep");
        return;
      }
      try {
        const message = triggerMessageOf(msg.subject, msg.headers);
        await d.invoker.invokeAsync(inputOf(t, msg.data, { traceparent: msg.headers?.get("traceparent") || undefined, chainDepth, message }));
        d.counters.count(t.id, "delivered");
      } catch (err) {
        d.counters.count(t.id, "failed");
        d.log.warn({ trigger: t.id, subject: msg.subject, code: asWeftError(err).code, reason: asWeftError(err).message }, "subject trigger message not delivered");
      }
    };
    const sub = d.nc.subscribe(spec.subject, {
      queue: triggerQueue(t.id),
      callback: (err, msg) => (err ? d.log.warn({ err, trigger: t.id }, "subject trigger subscription error") : void handle(msg)),
    });
    // The server has the subscription once a flush returns: a PUT answered after this sees the next message.
    await d.nc.flush();
    return new SubjectRunner(sub);
  }

  async stop(): Promise<void> {
    if (this.sub.isClosed()) return;
    await this.sub.drain().catch(() => this.sub.unsubscribe());
  }
}

type StreamSpec = Extract<TriggerSpec, { stream: string }>;

/**
 * JetStream: at least once end to end. A message is acked only once its invocation is stored (ordered: once it has
 * ended); a gateway that dies first leaves it unacked, and it is redelivered after the ack wait to any gateway. The
 * invocation's idempotency key is the trigger and the stream sequence, so a redelivered message never runs twice.
 */
class StreamRunner implements Runner {
  private stopped = false;
  private readonly inflight = new Set<Promise<void>>();
  private fetchStop: (() => void) | undefined;
  private readonly loop: Promise<void>;

  constructor(
    private readonly d: RunnerDeps,
    private readonly t: StoredTrigger,
    private readonly spec: StreamSpec,
  ) {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.fetchStop?.();
    await this.loop;
    await Promise.allSettled([...this.inflight]);
  }

  private get max(): number {
    return this.spec.ordered ? 1 : (this.spec.maxInFlight ?? 100);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const consumer = await this.d.js.consumers.get(this.spec.stream, triggerConsumer(this.t.id));
        while (!this.stopped) {
          if (this.inflight.size >= this.max) {
            await Promise.race(this.inflight);
            continue;
          }
          const batch = await consumer.fetch({ max_messages: this.max - this.inflight.size, expires: 5000 });
          this.fetchStop = () => batch.stop();
          for await (const m of batch) this.track(this.handle(m));
          if (this.spec.ordered) await Promise.allSettled([...this.inflight]);
        }
      } catch (err) {
        if (this.stopped) break;
        this.d.log.warn({ err, trigger: this.t.id }, "stream trigger fetch failed; retrying");
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  private track(p: Promise<void>): void {
    const tracked = p.finally(() => this.inflight.delete(tracked));
    this.inflight.add(tracked);
  }

  private async handle(m: JsMsg): Promise<void> {
    if (refusedTooDeep(this.d, this.t, m)) return;
    // An ordered message waits for its invocation to end: tell JetStream it is in progress meanwhile.
    const progress = this.spec.ordered ? setInterval(() => m.working(), STREAM_ACK_WAIT_MS / 2) : undefined;
    try {
      const outcome = await deliverOnce(this.d, this.t, m, this.spec.ordered === true);
      if (outcome === "passing") m.nak(RETRY_MS);
    } finally {
      clearInterval(progress);
    }
  }
}

/** A message deeper than the chain limit is terminated and counted failed; true if it was. */
function refusedTooDeep(d: RunnerDeps, t: StoredTrigger, m: JsMsg): boolean {
  const chainDepth = chainDepthOf(m.headers);
  if (!tooDeep(chainDepth)) return false;
  m.term(`CHAIN_TOO_DEEP: depth ${chainDepth} is past ${LIMITS.chainDepth}`);
  d.counters.count(t.id, "failed");
  d.log.warn({ trigger: t.id, seq: m.seq, code: "CHAIN_TOO_DEEP", depth: chainDepth }, "stream trigger message refused: chain too deep");
  return true;
}

/**
 * One try at making a stream message an invocation: "done" once it is stored (`untilEnded`: once it has ended) and
 * acked, or terminated as poison; "passing" when it failed for a reason that may pass (the caller naks or retries).
 */
async function deliverOnce(d: RunnerDeps, t: StoredTrigger, m: JsMsg, untilEnded: boolean): Promise<"done" | "passing"> {
  try {
    const input = inputOf(t, m.data, {
      idempotencyKey: `trigger:${t.id}:${t.createdAt}:${m.seq}`,
      traceparent: m.headers?.get("traceparent") || undefined,
      chainDepth: chainDepthOf(m.headers),
      message: triggerMessageOf(m.subject, m.headers),
    });
    if (untilEnded) await d.invoker.invokeSync(input);
    else await d.invoker.invokeAsync(input);
    m.ack();
    d.counters.count(t.id, "delivered");
    return "done";
  } catch (err) {
    const e = asWeftError(err);
    d.log.warn({ trigger: t.id, seq: m.seq, code: e.code, reason: e.message }, "stream trigger message not delivered");
    if (!POISON.has(e.code)) return "passing";
    m.term(`${e.code}: ${e.message}`);
    d.counters.count(t.id, "failed");
    return "done";
  }
}

/**
 * ordering perSubject: messages of one subject run one at a time, each after the previous one's invocation has
 * ended, in stream order; different subjects run side by side, up to maxInFlight messages held in all. The consumer
 * pins one gateway at a time (a priority group with the pinned_client policy), so every message of a subject passes
 * through one queue; when that gateway stops it unpins, and when it dies the server pins another once it stops pulling.
 * A message whose invocation failed for a passing reason is tried again in its place, never skipped past.
 */
class PerSubjectRunner implements Runner {
  private stopped = false;
  private pinned = false;
  private messages: ConsumerMessages | undefined;
  private readonly tails = new Map<string, Promise<void>>();
  private readonly loop: Promise<void>;

  constructor(
    private readonly d: RunnerDeps,
    private readonly t: StoredTrigger,
    private readonly spec: StreamSpec,
  ) {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close();
    await this.loop;
    await Promise.allSettled([...this.tails.values()]);
    // Another gateway may take over at once rather than after the pin's timeout.
    if (this.pinned) await this.d.jsm().then((jsm) => jsm.consumers.unpin(this.spec.stream, triggerConsumer(this.t.id), TRIGGER_PINNED_GROUP)).catch(() => undefined);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const consumer = await this.d.js.consumers.get(this.spec.stream, triggerConsumer(this.t.id));
        const messages = await consumer.consume({ group: TRIGGER_PINNED_GROUP, max_messages: this.spec.maxInFlight ?? 100, expires: 5000 });
        this.messages = messages;
        void this.watchPin(messages);
        if (this.stopped) await messages.close();
        for await (const m of messages) this.enqueue(m);
      } catch (err) {
        if (this.stopped) break;
        this.d.log.warn({ err, trigger: this.t.id }, "stream trigger consume failed; retrying");
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }

  private async watchPin(messages: ConsumerMessages): Promise<void> {
    for await (const s of messages.status()) {
      if (s.type === "consumer_pinned") this.pinned = true;
      else if (s.type === "consumer_unpinned") this.pinned = false;
    }
  }

  /** Queues the message behind the earlier ones of its subject; it reports progress while it waits and runs. */
  private enqueue(m: JsMsg): void {
    const progress = setInterval(() => m.working(), STREAM_ACK_WAIT_MS / 2);
    const next = (this.tails.get(m.subject) ?? Promise.resolve()).then(() => this.handle(m)).finally(() => clearInterval(progress));
    this.tails.set(m.subject, next);
    void next.finally(() => {
      if (this.tails.get(m.subject) === next) this.tails.delete(m.subject);
    });
  }

  private async handle(m: JsMsg): Promise<void> {
    if (refusedTooDeep(this.d, this.t, m)) return;
    while ((await deliverOnce(this.d, this.t, m, true)) === "passing") {
      // Stopping: hand it back (to the gateway pinned next); its successors on this gateway are handed back too.
      if (this.stopped) return m.nak();
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }
}

/**
 * Exactly once per tick across gateways: a tick's id (trigger, its creation, the tick's instant) is claimed with a KV
 * create, which exactly one gateway wins; the winner invokes with that id as the idempotency key, so its own retries
 * store one invocation.
 */
class ScheduleRunner implements Runner {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly schedule: Schedule;

  constructor(
    private readonly d: RunnerDeps,
    private readonly t: StoredTrigger,
    private readonly spec: Extract<TriggerSpec, { schedule: string }>,
  ) {
    const parsed = parseSchedule(spec.schedule);
    if (!parsed.ok) throw new Error(parsed.message);
    this.schedule = parsed.schedule;
    const now = Date.now();
    const missed = previousTick(this.schedule, now, CATCH_UP_MS, spec.timezone);
    if (missed !== undefined && missed >= Date.parse(t.updatedAt)) void this.fire(missed);
    this.arm(now);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private arm(after: number): void {
    if (this.stopped) return;
    const next = nextTick(this.schedule, after, this.spec.timezone);
    if (next === undefined) return;
    const wait = next - Date.now();
    // setTimeout holds at most ~24.8 days; far ticks are re-armed from an hour closer.
    if (wait > 3_600_000) this.timer = setTimeout(() => this.arm(after), 3_600_000);
    else this.timer = setTimeout(() => { void this.fire(next); this.arm(next); }, Math.max(0, wait));
    this.timer.unref();
  }

  private async fire(tick: number): Promise<void> {
    const tickId = `${this.t.id}.${Date.parse(this.t.createdAt)}.${tick}`;
    if (!(await this.claim(`tick.${tickId}`))) return;
    const event = Buffer.from(JSON.stringify(this.spec.event !== undefined ? this.spec.event : { trigger: this.t.id, time: new Date(tick).toISOString() }));
    for (let attempt = 1; attempt <= 5 && !this.stopped; attempt++) {
      try {
        await this.d.invoker.invokeAsync(inputOf(this.t, event, { idempotencyKey: `trigger:${tickId}` }));
        this.d.counters.count(this.t.id, "delivered");
        return;
      } catch (err) {
        const e = asWeftError(err);
        this.d.log.warn({ trigger: this.t.id, tick: new Date(tick).toISOString(), code: e.code, reason: e.message, attempt }, "schedule tick not delivered");
        if (POISON.has(e.code) || e.code === "NOT_FOUND") break;
        await new Promise((r) => setTimeout(r, RETRY_MS * attempt));
      }
    }
    this.d.counters.count(this.t.id, "failed");
  }

  /** True if this gateway won the tick; false if another did. While the store is down every gateway keeps trying. */
  private async claim(key: string): Promise<boolean> {
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        await this.d.ticks.create(key, JSON.stringify({ at: Date.now() }));
        return true;
      } catch (err) {
        const held = await this.d.ticks.get(key).catch(() => null);
        if (held?.operation === "PUT") return false;
        this.d.log.warn({ err, trigger: this.t.id, key, attempt }, "could not claim a schedule tick (the KV store is away); retrying");
        if (attempt >= 10) return false;
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
    return false;
  }
}
