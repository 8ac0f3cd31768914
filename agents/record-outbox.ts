// Records an agent could not publish are never dropped: a record JetStream did not store (NATS away, a
// leader election, a timeout) is appended to a file in the outbox directory and fsynced before the job is
// acked, and a loop publishes the file's records again, in order, until every one is stored (with the
// same Nats-Msg-Id, so one that did land after all is de-duplicated). An agent that restarts drains what its
// previous run left. Only the loss of the host's disk can lose a record (README "Delivery promises").
import type { JetStreamClient } from "@nats-io/jetstream";
import { appendFileSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../shared/logger.js";

export interface OutboxOptions {
  dir: string;
  agentId: string;
  /** One publish attempt's wait for JetStream's acknowledgement. */
  publishTimeoutMs?: number;
  retryMs?: number;
}

interface Entry {
  subject: string;
  msgID: string;
  data: string;
}

/**
 * Writing to the outbox file failed: the record is neither in JetStream nor on disk, so the job that produced it
 * must not be acked (it is handed back and runs again, which is better than a job without its record).
 */
export class OutboxWriteError extends Error {
  constructor(msgID: string, options: { cause: unknown }) {
    super(`record ${msgID} could not be written to the outbox`, options);
    this.name = "OutboxWriteError";
  }
}

/** The client refused a message over the server's max_payload: retrying it as it is can never succeed. */
export function isOverMaxPayload(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if (/max_payload/i.test(e.message)) return true;
  return false;
}

/**
 * An entry too big to publish, split into one entry per record (a batch is a JSON array of records). A single
 * record fits: its event, output and logs are each cut at 256 KiB (LIMITS), so even fully JSON-escaped it stays
 * well under the 8 MiB max_payload. Undefined when the entry is not a batch of two or more records.
 */
export function splitEntry(e: Entry): Entry[] | undefined {
  let records: unknown;
  try {
    records = JSON.parse(e.data);
  } catch {
    return undefined;
  }
  if (!Array.isArray(records) || records.length < 2) return undefined;
  return records.map((r, i) => ({ subject: e.subject, msgID: `${e.msgID}.${i}`, data: JSON.stringify([r]) }));
}

export class RecordOutbox {
  private readonly file: string;
  private pending = 0;
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private stopped = false;
  private unpublishable = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly opts: OutboxOptions,
    private readonly log: Logger,
  ) {
    mkdirSync(opts.dir, { recursive: true });
    this.file = join(opts.dir, `${opts.agentId}.jsonl`);
  }

  /** Records waiting in the outbox (for the agent's status). */
  get size(): number {
    return this.pending;
  }

  /** Records dropped because not even alone did they fit in a message (should never happen: see splitEntry). */
  get dropped(): number {
    return this.unpublishable;
  }

  /** Picks up what a previous run left and starts the retry loop. */
  start(): void {
    this.pending = this.readAll().length;
    if (this.pending > 0) this.log.warn({ records: this.pending, file: this.file }, "records left in the outbox by a previous run; publishing them");
    this.schedule();
  }

  /**
   * Stores a record in JetStream, or failing that in the outbox file: when this resolves the record is
   * durable one way or the other. Rejects with OutboxWriteError when the outbox file cannot be written: the
   * record is not durable, and the caller must not ack the job that produced it.
   */
  async publish(subject: string, data: string, msgID: string): Promise<void> {
    if (this.pending === 0) {
      try {
        await this.js.publish(subject, data, { msgID, timeout: this.opts.publishTimeoutMs ?? 5000 });
        return;
      } catch (err) {
        if (isOverMaxPayload(err)) return this.publishSplit({ subject, msgID, data }, err);
        this.log.warn({ err, msgID }, "record not stored by JetStream; keeping it in the outbox");
      }
    }
    // While older records wait, a new one goes behind them, so records of one invocation keep their order.
    this.append({ subject, msgID, data });
  }

  /** A message over max_payload would wedge the outbox for ever: its records go one by one instead. */
  private async publishSplit(entry: Entry, err: unknown): Promise<void> {
    const parts = splitEntry(entry);
    if (!parts) return this.drop(entry, err);
    this.log.warn({ msgID: entry.msgID, records: parts.length, bytes: Buffer.byteLength(entry.data) }, "record batch over max_payload; publishing its records one by one");
    for (const p of parts) await this.publish(p.subject, p.data, p.msgID);
  }

  private drop(entry: Entry, err: unknown): void {
    this.unpublishable++;
    this.log.error({ err, msgID: entry.msgID, subject: entry.subject, bytes: Buffer.byteLength(entry.data), dropped: this.unpublishable }, "a single record is over max_payload: it can never be stored and is dropped");
  }

  private append(entry: Entry): void {
    try {
      appendFileSync(this.file, `${JSON.stringify(entry)}\n`);
      const fd = openSync(this.file, "r+");
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      this.pending++;
      this.schedule();
    } catch (err) {
      this.log.error({ err, msgID: entry.msgID, file: this.file }, "writing a record to the outbox failed; its job is not acked");
      throw new OutboxWriteError(entry.msgID, { cause: err });
    }
  }

  private readAll(): Entry[] {
    if (!existsSync(this.file)) return [];
    const out: Entry[] = [];
    for (const line of readFileSync(this.file, "utf8").split("\n")) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line) as Entry);
      } catch {
        // a line torn by a crash mid-append: the record before the tear was fsynced, this one was not acked
      }
    }
    return out;
  }

  private schedule(): void {
    if (this.stopped || this.timer || this.pending === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.draining ??= this.drain().catch((err: unknown) => this.log.error({ err, file: this.file }, "draining the outbox failed; trying again later")).finally(() => {
        this.draining = undefined;
        this.schedule();
      });
    }, this.opts.retryMs ?? 1000);
    this.timer.unref();
  }

  /**
   * Publishes the file's records in order; stops at the first failure and keeps the rest. An entry over
   * max_payload never stops it: it is split into its records (those not stored yet stay at the head of the file),
   * or, a single record, dropped and counted.
   */
  private async drain(): Promise<void> {
    const entries = this.readAll();
    let done = 0;
    let head: Entry[] = [];
    let changed = false;
    for (const e of entries) {
      const left = await this.publishInOrder([e]);
      if (left.length > 0) {
        head = left;
        changed = left.length !== 1 || left[0] !== e;
        break;
      }
      done++;
    }
    if (done === 0 && !changed && entries.length > 0) return;
    // Records appended while we published stay: rewrite the file with everything after what was stored.
    const now = this.readAll();
    const rest = [...head, ...now.slice(done + (head.length > 0 ? 1 : 0))];
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, rest.map((e) => `${JSON.stringify(e)}\n`).join(""));
    const fd = openSync(tmp, "r+");
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.file);
    this.pending = rest.length;
    if (done > 0) this.log.info({ published: done, left: rest.length }, "outbox records stored");
  }

  /** Publishes entries in order, splitting those over max_payload; returns those not stored (from the first failure on). */
  private async publishInOrder(entries: Entry[]): Promise<Entry[]> {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      try {
        await this.js.publish(e.subject, e.data, { msgID: e.msgID, timeout: this.opts.publishTimeoutMs ?? 5000 });
      } catch (err) {
        if (!isOverMaxPayload(err)) return entries.slice(i);
        const parts = splitEntry(e);
        if (!parts) {
          this.drop(e, err);
          continue;
        }
        this.log.warn({ msgID: e.msgID, records: parts.length }, "outbox entry over max_payload; publishing its records one by one");
        const left = await this.publishInOrder(parts);
        if (left.length > 0) return [...left, ...entries.slice(i + 1)];
      }
    }
    return [];
  }

  /** Tries once more to empty the outbox, then stops; what is left stays on disk for the next run. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.draining;
    if (this.pending > 0) await this.drain().catch(() => {});
  }
}
