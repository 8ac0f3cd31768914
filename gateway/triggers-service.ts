// Trigger CRUD, pause and resume, shared by HTTP (triggers-routes.ts) and gRPC: checks the spec (fields named), the
// function and its version or alias, and for a stream trigger declares its durable consumer on the user's stream.
import { AckPolicy, DeliverPolicy, type PriorityPolicy, JetStreamApiError, type ConsumerConfig, type JetStreamManager, type StreamInfo } from "@nats-io/jetstream";
import { WeftError, fromZodError, invalid, notFound, unavailable } from "../shared/errors.js";
import { nextTick, parseSchedule } from "../shared/schedule.js";
import { ScheduleTriggerSpec, StreamTriggerSpec, SubjectTriggerSpec, TriggerId, TriggerSpec, kindOf, type StoredTrigger, type Trigger } from "../shared/schemas/trigger.js";
import { INTERNAL_SUBJECTS, TRIGGER_PINNED_GROUP, subjectsOverlap, triggerConsumer } from "../shared/subjects.js";
import type { AliasResolver } from "./alias-resolver.js";
import type { FunctionCache } from "./function-cache.js";
import type { TriggerCounters, TriggersStore } from "./triggers-store.js";

/** Messages a stream trigger has handed out and not yet seen stored, across every gateway, unless maxInFlight says. */
export const DEFAULT_MAX_IN_FLIGHT = 100;
/**
 * A stream trigger's message not acknowledged within this (its gateway died mid-way) goes to another gateway. Storing
 * an invocation takes milliseconds; an ordered trigger, which waits for the invocation to end, reports progress.
 */
export const STREAM_ACK_WAIT_MS = 10_000;
/**
 * A perSubject trigger's pinned gateway that has not pulled for this long (it died) is unpinned. Longer than the ack
 * wait, so the messages it held are due for redelivery, ahead of newer ones, when the next gateway is pinned.
 */
export const PIN_TIMEOUT_MS = 20_000;

export interface TriggersDeps {
  store: TriggersStore;
  counters: TriggerCounters;
  cache: FunctionCache;
  aliases: AliasResolver;
  jsm: () => Promise<JetStreamManager>;
  /** Resolves once this gateway's runners have applied the trigger's revision (bounded), so the caller's next event is seen. */
  applied: (id: string, revision: number) => Promise<void>;
}

export class TriggersService {
  constructor(private readonly d: TriggersDeps) {}

  async put(rawId: unknown, body: unknown): Promise<{ trigger: Trigger; created: boolean }> {
    const id = triggerId(rawId);
    refuseKindFields(body);
    const parsed = TriggerSpec.safeParse(body);
    if (!parsed.success) throw fromZodError(parsed.error);
    const spec = parsed.data;
    const fn = this.d.cache.get(spec.function);
    if (!fn) throw notFound(`function ${spec.function}`);
    if (spec.version !== undefined && spec.version > fn.version) throw notFound(`version ${spec.version} of function ${spec.function}`);
    if (spec.alias !== undefined) await this.d.aliases.version(spec.function, fn.incarnation, spec.alias);
    const existing = await this.d.store.get(id);
    if ("stream" in spec) await this.declareConsumer(id, spec, existing?.trigger);
    else if (existing && "stream" in existing.trigger.spec) await this.dropConsumer(id, existing.trigger);
    const now = new Date().toISOString();
    const stored: StoredTrigger = {
      id,
      spec: spec as Record<string, unknown>,
      incarnation: fn.incarnation,
      paused: existing?.trigger.paused ?? false,
      createdAt: existing?.trigger.createdAt ?? now,
      updatedAt: now,
    };
    const revision = await this.d.store.put(stored);
    await this.d.applied(id, revision!);
    return { trigger: await this.view(stored), created: existing === undefined };
  }

  async get(rawId: unknown): Promise<Trigger> {
    return this.view(await this.stored(triggerId(rawId)));
  }

  async list(): Promise<Trigger[]> {
    return Promise.all((await this.d.store.list()).map((t) => this.view(t)));
  }

  async delete(rawId: unknown): Promise<{ id: string; deleted: true }> {
    const id = triggerId(rawId);
    const t = await this.stored(id);
    await this.d.store.delete(id);
    this.d.counters.forget(id);
    if ("stream" in t.spec) await this.dropConsumer(id, t);
    return { id, deleted: true };
  }

  async pause(rawId: unknown, paused: boolean): Promise<Trigger> {
    const id = triggerId(rawId);
    for (;;) {
      const got = await this.d.store.get(id);
      if (!got) throw notFound(`trigger ${id}`);
      if (got.trigger.paused === paused) return this.view(got.trigger);
      const next = { ...got.trigger, paused, updatedAt: new Date().toISOString() };
      const revision = await this.d.store.put(next, got.revision);
      if (revision === undefined) continue; // written concurrently: read again
      await this.d.applied(id, revision);
      return this.view(next);
    }
  }

  private async stored(id: string): Promise<StoredTrigger> {
    const got = await this.d.store.get(id);
    if (!got) throw notFound(`trigger ${id}`);
    return got.trigger;
  }

  /** What the API answers: the spec flattened, with the state, the counters and (schedules) the next tick. */
  private async view(t: StoredTrigger): Promise<Trigger> {
    const spec = t.spec as TriggerSpec;
    const stored = await this.d.store.counts(t.id);
    const mine = this.d.counters.unflushed(t.id);
    const state = triggerState(t, this.d.cache);
    const lag = "stream" in spec ? await this.streamLag(t.id, spec.stream) : 0;
    const next = "schedule" in spec && state === "active" ? scheduleNext(spec.schedule, spec.timezone) : undefined;
    return {
      id: t.id,
      kind: kindOf(spec),
      ...spec,
      state,
      counters: { delivered: stored.delivered + mine.delivered, failed: stored.failed + mine.failed, lag },
      ...(next !== undefined ? { nextTick: new Date(next).toISOString() } : {}),
      createdAt: t.createdAt,
      updatedAt: t.updatedAt,
    } as Trigger;
  }

  /** Messages of the stream the trigger has not yet seen stored: not yet delivered, plus delivered and not acked. */
  private async streamLag(id: string, stream: string): Promise<number> {
    try {
      const info = await (await this.d.jsm()).consumers.info(stream, triggerConsumer(id));
      return info.num_pending + info.num_ack_pending;
    } catch {
      return 0;
    }
  }

  /**
   * The trigger's durable consumer: it keeps the position across restarts of every gateway. A change of stream or
   * deliver policy, or leaving perSubject ordering (which JetStream cannot change in place) starts a new consumer;
   * the rest is updated in place.
   */
  private async declareConsumer(id: string, spec: Extract<TriggerSpec, { stream: string }>, old: StoredTrigger | undefined): Promise<void> {
    const jsm = await this.d.jsm();
    let info: StreamInfo;
    try {
      info = await jsm.streams.info(spec.stream);
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === 10059) throw invalid("stream", `no JetStream stream named ${spec.stream}`);
      throw unavailable("JetStream", err);
    }
    refuseInternalStream(info);
    const was = old && "stream" in old.spec ? (old.spec as Extract<TriggerSpec, { stream: string }>) : undefined;
    // A consumer's priority group can be added in place but not taken away: leaving perSubject starts a new one too.
    const unpinned = was?.ordering === "perSubject" && spec.ordering !== "perSubject";
    if (was && (was.stream !== spec.stream || (was.deliverPolicy ?? "all") !== (spec.deliverPolicy ?? "all") || unpinned)) await this.dropConsumer(id, old!);
    const cfg = consumerConfig(id, spec);
    try {
      await jsm.consumers.add(spec.stream, cfg);
    } catch (err) {
      if (!(err instanceof JetStreamApiError)) throw unavailable("JetStream", err);
      try {
        await jsm.consumers.update(spec.stream, cfg.durable_name!, cfg);
      } catch (e) {
        throw new WeftError("INVALID_ARGUMENT", `filterSubject: JetStream refused the consumer: ${(e as Error).message}`, "filterSubject", { cause: e });
      }
    }
  }

  private async dropConsumer(id: string, t: StoredTrigger): Promise<void> {
    const stream = (t.spec as { stream?: string }).stream;
    if (!stream) return;
    await (await this.d.jsm()).consumers.delete(stream, triggerConsumer(id)).catch(() => undefined);
  }
}

/**
 * The name rule (shared/schemas/trigger.ts) catches Weft's streams by name; this catches a stream of any name that
 * captures Weft's or NATS's own subjects, or mirrors or sources one of Weft's streams: its messages are not the user's.
 */
export function refuseInternalStream(info: Pick<StreamInfo, "config">): void {
  const c = info.config;
  const subject = (c.subjects ?? []).find((s) => INTERNAL_SUBJECTS.some((w) => subjectsOverlap(s, w)));
  if (subject !== undefined) throw invalid("stream", `${c.name} captures ${subject}, which overlaps subjects Weft or NATS own (${INTERNAL_SUBJECTS.join(", ")})`);
  const origin = [c.mirror?.name, ...(c.sources ?? []).map((s) => s.name)].find((n) => n !== undefined && /^(WEFT_|KV_|OBJ_)/.test(n));
  if (origin !== undefined) throw invalid("stream", `${c.name} copies ${origin}, a Weft stream, KV bucket or object store`);
}

/** active, paused, or disabled: its function was deleted (or deleted and created again: a new function). */
export function triggerState(t: StoredTrigger, cache: FunctionCache): Trigger["state"] {
  if (t.paused) return "paused";
  return cache.get(String(t.spec.function))?.incarnation === t.incarnation ? "active" : "disabled";
}

export function consumerConfig(id: string, spec: Extract<TriggerSpec, { stream: string }>): Partial<ConsumerConfig> {
  const policy = { all: DeliverPolicy.All, new: DeliverPolicy.New, last: DeliverPolicy.Last, lastPerSubject: DeliverPolicy.LastPerSubject }[spec.deliverPolicy ?? "all"];
  return {
    durable_name: triggerConsumer(id),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: policy,
    ack_wait: STREAM_ACK_WAIT_MS * 1_000_000,
    max_deliver: -1,
    // Ordered: one message at a time across every gateway, each acked only once its invocation has ended.
    max_ack_pending: spec.ordered ? 1 : (spec.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT),
    // perSubject: one gateway at a time holds the messages (triggers-runner.ts); a gateway that stops pulling (it
    // died) loses the pin after this, and another takes over.
    ...(spec.ordering === "perSubject" ? { priority_groups: [TRIGGER_PINNED_GROUP], priority_policy: "pinned_client" as PriorityPolicy, priority_timeout: PIN_TIMEOUT_MS * 1_000_000 } : {}),
    ...(spec.filterSubject ? { filter_subject: spec.filterSubject } : {}),
  };
}

function scheduleNext(schedule: string, timezone?: string): number | undefined {
  const parsed = parseSchedule(schedule);
  return parsed.ok ? nextTick(parsed.schedule, Date.now(), timezone) : undefined;
}

/**
 * A body naming exactly one kind is checked against that kind's schema first, so a bad field of it (a stream's
 * ordering, a schedule's timezone) is named rather than reported as the union's "body".
 */
function refuseKindFields(body: unknown): void {
  if (typeof body !== "object" || body === null) return;
  const kinds = (["subject", "stream", "schedule"] as const).filter((k) => k in body);
  if (kinds.length !== 1) return;
  const schema = { subject: SubjectTriggerSpec, stream: StreamTriggerSpec, schedule: ScheduleTriggerSpec }[kinds[0]!];
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw fromZodError(parsed.error);
}

function triggerId(raw: unknown): string {
  const parsed = TriggerId.safeParse(raw);
  if (!parsed.success) throw invalid("id", parsed.error.issues[0]?.message ?? "is invalid");
  return parsed.data;
}
