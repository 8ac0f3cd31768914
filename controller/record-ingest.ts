// Moves invocation records from the WEFT_RECORDS stream into MongoDB in batches.
//
// A record is acked only after MongoDB stored it (and its listing page). While MongoDB is unreachable the batch
// in hand is retried every WRITE_RETRY_MAX_MS at most (its messages kept alive with +WPI within the consumer's
// short ack wait) and nothing new is fetched, so records wait in the stream, not in memory. A record that is
// not a valid RecordEvent is terminated; one MongoDB refuses is redelivered later and terminated after a few
// refusals, so no single record can block the stream.
//
// Recovery within seconds: MongoDB back → the batch in hand is written at the next retry (≤ 2 s); a controller
// that died → what it held is redelivered after the ack wait (RECORDS_ACK_WAIT_MS); a pull request that never
// ends (its expiry lost, e.g. across an outage) is abandoned FETCH_GRACE_MS after it should have ended.
import { JetStreamError, type ConsumerMessages, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { RecordEvent } from "../shared/schemas/invocation.js";
import { RECORDS_ACK_WAIT_MS } from "../shared/nats.js";
import { RECORD_BATCH_SUBJECT, RECORDS_CONSUMER, RECORDS_STREAM } from "../shared/subjects.js";
import { untilAborted } from "./abortable.js";
import { Backoff } from "./backoff.js";
import { BatchReader } from "./batch-reader.js";
import { isMongoUnavailable } from "./database.js";
import type { InvocationRecords } from "./invocation-records.js";

export interface RecordIngestOptions {
  /** Messages per bulk write at most (and at most MESSAGES_PER_FETCH). */
  batchSize: number;
  /** Bytes per fetch at most: what the controller holds in hand, whatever records a message carries. */
  batchBytes: number;
  flushMs: number;
}

/**
 * Messages a fetch brings at most: the JetStream client asks for 100 when a fetch is bounded by bytes (it takes a
 * message count or a byte count, not both).
 */
const MESSAGES_PER_FETCH = 100;
/** Room over max_payload for a message's subject and reply subject, as the server counts a pull's bytes. */
const SUBJECT_ROOM = 4096;

/**
 * A fetch's byte budget: the configured one, but never below the largest message the server takes. A stored
 * message bigger than the budget would end every pull without being delivered ("Message Size Exceeds MaxBytes").
 */
export function fetchBytesFor(configured: number, maxPayload: number | undefined): number {
  return Math.max(configured, (maxPayload ?? 0) + SUBJECT_ROOM);
}

/**
 * A pull request stays open this long when the stream is idle (the client's minimum is 1 s). Short, because a pull
 * sent while a restarted server is still loading its streams can be lost without a word, and is only abandoned
 * after its expiry and FETCH_GRACE_MS: at 5 s + 2 s, records published after a NATS restart waited up to 6.6 s.
 */
const FETCH_EXPIRES_MS = 2000;
/** Refusals by MongoDB after which a record is given up (terminated and logged). */
const POISON_DELIVERIES = 5;
/** A fetch that has neither delivered nor ended this long after its expiry is abandoned. */
const FETCH_GRACE_MS = 1000;
/** Messages in hand are kept alive well within the consumer's ack wait, however long their write takes. */
const WORKING_EVERY_MS = Math.floor(RECORDS_ACK_WAIT_MS / 4);
/** Retries of a write while MongoDB is away are at most this far apart, so records land soon after it is back. */
const WRITE_RETRY_MAX_MS = 2000;
/** A batch that takes longer than this to store is logged: records landing late then say where the time went. */
const SLOW_WRITE_MS = 10_000;

/** One record in hand; the records of an agent's batch message share its msg, which is acked once all are stored. */
interface Pending {
  msg: JsMsg;
  event: RecordEvent;
}

type State = "running" | "stopping" | "stopped";

export class RecordIngest {
  private state: State = "running";
  private readonly abort = new AbortController();
  private fetch: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  private readonly fetchBackoff = new Backoff(250, 5000);
  private readonly writeBackoff = new Backoff(250, WRITE_RETRY_MAX_MS);
  /** Set while MongoDB is unreachable, so a stopping controller hands records back without waiting on it. */
  private mongoDown = false;
  /** Counters for tests and logs. */
  readonly stats = { written: 0, invalid: 0, rejected: 0, retries: 0, largestBatchBytes: 0 };
  private readonly startedAt = Date.now();
  private firstStored = false;

  constructor(
    private readonly js: JetStreamClient,
    private readonly records: InvocationRecords,
    private readonly opts: RecordIngestOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops fetching, finishes (or hands back) the batch in hand; a second call returns the same promise. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.state = "stopping";
      this.abort.abort();
      await this.fetch?.close();
      await this.loop;
      this.state = "stopped";
    })();
    return this.stopped;
  }

  /** Ends the open pull request early (e.g. after a NATS reconnect, when the server may have forgotten it). */
  restartFetch(): void {
    void this.fetch?.close();
  }

  private get stopping(): boolean {
    return this.state !== "running";
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        const consumer = await untilAborted(this.js.consumers.get(RECORDS_STREAM, RECORDS_CONSUMER), this.abort.signal);
        while (consumer && !this.stopping) {
          // Bounded by bytes, so what is in hand stays small whatever records a message carries.
          const fetch = { max_bytes: this.opts.batchBytes, expires: FETCH_EXPIRES_MS };
          this.fetch = await untilAborted(consumer.fetch(fetch), this.abort.signal);
          if (!this.fetch) break;
          await this.drain(this.fetch);
          this.fetchBackoff.reset();
        }
      } catch (err) {
        if (this.stopping) break;
        this.log.warn({ err }, "records fetch failed; retrying");
        await this.fetchBackoff.wait(this.abort.signal);
      } finally {
        this.fetch = undefined;
      }
    }
  }

  private async drain(fetch: ConsumerMessages): Promise<void> {
    const reader = new BatchReader<JsMsg>(endingAtByteBudget(fetch[Symbol.asyncIterator]()));
    let expiresAt = Date.now() + FETCH_EXPIRES_MS;
    for (;;) {
      const batch = await reader.read(Math.min(this.opts.batchSize, MESSAGES_PER_FETCH), this.opts.flushMs, Math.max(0, expiresAt - Date.now()) + FETCH_GRACE_MS);
      if (batch.items.length) {
        this.stats.largestBatchBytes = Math.max(this.stats.largestBatchBytes, batch.items.reduce((sum, m) => sum + m.data.length, 0));
        await this.process(batch.items);
      }
      if (batch.done) {
        // Ended, or stranded: either way this pull is over, and the next fetch asks again.
        await fetch.close();
        return;
      }
      // A pull asks for a whole batch; once it delivered, its expiry no longer bounds how long the rest takes.
      expiresAt = Date.now() + FETCH_EXPIRES_MS;
    }
  }

  private async process(msgs: JsMsg[]): Promise<void> {
    const pending: Pending[] = [];
    for (const msg of msgs) {
      for (const event of this.parse(msg)) pending.push({ msg, event });
    }
    if (pending.length === 0) return;
    if (this.stopping && this.mongoDown) return this.handBack(pending);
    await this.store(pending);
  }

  private parse(msg: JsMsg): RecordEvent[] {
    let data: unknown;
    try {
      data = msg.json();
    } catch (err) {
      return this.discard(msg, `not JSON: ${(err as Error).message}`);
    }
    if (msg.subject !== RECORD_BATCH_SUBJECT) {
      const event = this.validate(data);
      return typeof event === "string" ? this.discard(msg, event) : [event];
    }
    if (!Array.isArray(data)) return this.discard(msg, "a record batch is not an array");
    const events: RecordEvent[] = [];
    for (const item of data) {
      const event = this.validate(item);
      if (typeof event !== "string") events.push(event);
      else {
        // The rest of the batch is good: only this record is dropped (the message is acked with the others).
        this.stats.invalid++;
        this.log.warn({ seq: msg.seq, subject: msg.subject, reason: event }, "invalid invocation record in a batch dropped");
      }
    }
    if (events.length === 0) msg.ack();
    return events;
  }

  /** The record, or why it is not one. */
  private validate(data: unknown): RecordEvent | string {
    const parsed = RecordEvent.safeParse(data);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    return `${issue?.path.join(".") || "record"}: ${issue?.message ?? "invalid"}`;
  }

  private discard(msg: JsMsg, reason: string): [] {
    this.stats.invalid++;
    this.log.warn({ seq: msg.seq, subject: msg.subject, reason }, "invalid invocation record terminated");
    msg.term(`invalid record: ${reason}`.slice(0, 200));
    return [];
  }

  /** Writes until MongoDB answers; hands the batch back to the stream if the controller stops first. */
  private async store(batch: Pending[]): Promise<void> {
    const keepAlive = setInterval(() => {
      for (const msg of messagesOf(batch)) msg.working();
    }, WORKING_EVERY_MS);
    const started = Date.now();
    try {
      await this.storeUntilDone(batch);
    } finally {
      clearInterval(keepAlive);
    }
    this.noteStored(batch, Date.now() - started);
  }

  /** The first batch after start, and any slow one, are logged: a restart's backlog shows how it went. */
  private noteStored(batch: Pending[], ms: number): void {
    const fields = { records: batch.length, messages: messagesOf(batch).size, ms };
    if (!this.firstStored) {
      this.firstStored = true;
      this.log.info({ ...fields, sinceStartMs: Date.now() - this.startedAt }, "first invocation records stored");
    }
    if (ms > SLOW_WRITE_MS) this.log.warn(fields, "storing a batch of invocation records was slow");
  }

  private async storeUntilDone(batch: Pending[]): Promise<void> {
    for (;;) {
      try {
        const outcome = await this.records.apply(batch.map((p) => p.event));
        this.settle(batch, new Set(outcome.rejected), outcome.reason);
        this.writeBackoff.reset();
        if (this.mongoDown) this.log.info({ records: batch.length }, "MongoDB is back; records written");
        this.mongoDown = false;
        return;
      } catch (err) {
        if (!isMongoUnavailable(err)) return this.storeOneByOne(batch, err);
        if (!this.mongoDown) this.log.warn({ err, records: batch.length }, "MongoDB unavailable; holding records");
        this.mongoDown = true;
        this.stats.retries++;
      }
      if (this.stopping) return this.handBack(batch);
      await this.writeBackoff.wait(this.abort.signal);
    }
  }

  /**
   * A refusal of the whole bulk (not an outage) may come from one bad record: write them one at a time so
   * only the culprit is redelivered. An outage met on the way sends the rest back to the retry loop.
   */
  private async storeOneByOne(batch: Pending[], cause: unknown): Promise<void> {
    this.log.warn({ err: cause, records: batch.length }, "bulk write refused; writing records one by one");
    // Settled message by message, so a batch message is acked only once all its records were tried.
    const groups = groupByMessage(batch);
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g]!;
      const rejected = new Set<number>();
      let reason: string | undefined;
      for (let i = 0; i < group.length; i++) {
        try {
          const outcome = await this.records.apply([group[i]!.event]);
          if (outcome.rejected.length > 0) {
            rejected.add(i);
            reason ??= outcome.reason;
          }
        } catch (err) {
          if (isMongoUnavailable(err)) return this.storeUntilDone(groups.slice(g).flat());
          rejected.add(i);
          reason ??= (err as Error).message;
        }
      }
      this.settle(group, rejected, reason);
    }
  }

  /**
   * Acks each message whose records are all stored. A message with a refused record goes back whole (its stored
   * records are duplicates next time, which count as stored), and after POISON_DELIVERIES it is given up.
   */
  private settle(batch: Pending[], rejected: ReadonlySet<number>, reason: string | undefined): void {
    const refusedOf = new Map<JsMsg, Pending | undefined>();
    batch.forEach((p, i) => {
      if (rejected.has(i)) {
        this.stats.rejected++;
        if (!refusedOf.get(p.msg)) refusedOf.set(p.msg, p);
      } else {
        this.stats.written++;
        if (!refusedOf.has(p.msg)) refusedOf.set(p.msg, undefined);
      }
    });
    for (const [msg, refused] of refusedOf) {
      if (!refused) {
        msg.ack();
        continue;
      }
      const deliveries = msg.info.deliveryCount;
      const log = { invocationId: refused.event.invocationId, fn: refused.event.functionName, deliveries, reason };
      if (deliveries >= POISON_DELIVERIES) {
        this.log.error(log, "MongoDB keeps refusing an invocation record; giving it up");
        msg.term(`refused by MongoDB: ${reason ?? "unknown"}`.slice(0, 200));
      } else {
        this.log.warn(log, "MongoDB refused an invocation record; redelivering later");
        msg.nak(1000 * 2 ** deliveries);
      }
    }
  }

  /** Lets another controller (or the next start) take the records at once. */
  private handBack(batch: Pending[]): void {
    for (const msg of messagesOf(batch)) msg.nak();
  }
}

/**
 * A fetch bounded by bytes ends when the next message would pass its budget (409 "Message Size Exceeds MaxBytes")
 * or once the client's 100 messages came (409 "Batch Completed"); the client ends the iterator with that status as
 * an error. For this fetch it is the normal end, after every message it brought was delivered.
 */
function endingAtByteBudget(source: AsyncIterator<JsMsg>): AsyncIterator<JsMsg> {
  return {
    next: () =>
      source.next().catch((err: unknown) => {
        if (err instanceof JetStreamError && (err as { code?: unknown }).code === 409 && /exceeds maxbytes|batch completed/i.test(err.message)) {
          return { done: true, value: undefined };
        }
        throw err;
      }),
  };
}

function messagesOf(batch: Pending[]): Set<JsMsg> {
  return new Set(batch.map((p) => p.msg));
}

function groupByMessage(batch: Pending[]): Pending[][] {
  const groups = new Map<JsMsg, Pending[]>();
  for (const p of batch) {
    const group = groups.get(p.msg);
    if (group) group.push(p);
    else groups.set(p.msg, [p]);
  }
  return [...groups.values()];
}
