// Invocation records leave the agent in batches: the records of every job that finishes within the linger after
// the batch's first record (WEFT_RECORD_LINGER_MS; with none, within one turn of the event loop), or while the batch
// before is being stored, travel as one WEFT_RECORDS message, a JSON array on RECORD_BATCH_SUBJECT. One publish, one
// stored message, one PubAck and one controller ack for many invocations, instead of one each. A record is durable
// when its batch is (stored by JetStream, or in the outbox on disk), and only then does the job that produced it get
// acked (README "Delivery promises").
import { randomBytes } from "node:crypto";
import type { RecordEvent } from "../shared/schemas/invocation.js";
import { RECORD_BATCH_SUBJECT } from "../shared/subjects.js";
import type { RecordOutbox } from "./record-outbox.js";

export interface RecordBatchOptions {
  /** Records per message at most. */
  maxRecords?: number;
  /** UTF-8 bytes per message at most (well inside the NATS max payload; a record is at most a few hundred KiB). */
  maxBytes?: number;
  /**
   * How long the first record of a batch waits for others before the batch goes out (0: at the end of the turn).
   * Off the caller's path (the reply went before the record), it only delays the job's ack, and it turns one
   * message per invocation at moderate rates into one per batch all the way to MongoDB.
   */
  lingerMs?: number;
}

const KiB = 1024;
const DEFAULT_MAX_BYTES = 4 * KiB * KiB;
/** Room left in a message for its headers (Nats-Msg-Id, trace context). */
const HEADER_ROOM = 64 * KiB;

/**
 * The bytes a batch may carry on a server whose max_payload is `maxPayload` (from the connection's INFO): 4 MiB,
 * or less on a server that takes less, always leaving room for the headers.
 */
export function batchBytesFor(maxPayload: number | undefined): number {
  if (!maxPayload || maxPayload <= 0) return DEFAULT_MAX_BYTES;
  return Math.max(1, Math.min(DEFAULT_MAX_BYTES, Math.floor(maxPayload / 2), maxPayload - HEADER_ROOM));
}

interface Queued {
  json: string;
  stored: () => void;
  failed: (err: unknown) => void;
}

export class RecordBatcher {
  /** The batch filling now, and full ones waiting for their turn (at most one batch is being stored at a time). */
  private queue: Queued[] = [];
  private ready: Queued[][] = [];
  private bytes = 0;
  private flushing: Promise<void> | undefined;
  private scheduled = false;
  /** When the first record of the batch filling now arrived: the batch leaves the linger after it, or when full. */
  private firstAt = 0;
  private seq = 0;
  /** Batch ids are unique per agent run: the outbox re-publishes a batch under the same id, and JetStream drops the copy. */
  private readonly run = randomBytes(6).toString("hex");
  private readonly maxRecords: number;
  private readonly maxBytes: number;
  private readonly lingerMs: number;

  constructor(
    private readonly outbox: RecordOutbox,
    private readonly agentId: string,
    opts: RecordBatchOptions = {},
  ) {
    this.maxRecords = opts.maxRecords ?? 256;
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.lingerMs = opts.lingerMs ?? 0;
  }

  /**
   * Resolves once the record is durable (its batch stored by JetStream or written to the outbox); rejects
   * (OutboxWriteError) when it is neither, so its job is not acked.
   */
  add(record: RecordEvent): Promise<void> {
    const json = JSON.stringify(record);
    // Bytes, not UTF-16 units: CJK text is 3 bytes a unit, and a batch counted in units could pass max_payload.
    // The comma (or bracket) beside each record is counted too.
    const bytes = Buffer.byteLength(json) + 1;
    return new Promise<void>((stored, failed) => {
      if (this.bytes + bytes > this.maxBytes) this.cut();
      if (this.queue.length === 0) this.firstAt = performance.now();
      this.queue.push({ json, stored, failed });
      this.bytes += bytes;
      if (this.queue.length >= this.maxRecords) this.cut();
      // A full batch goes at once; the rest wait for the end of the turn, or the linger.
      if (this.ready.length > 0 && !this.flushing) void this.pump();
      else this.schedule();
    });
  }

  private cut(): void {
    if (this.queue.length === 0) return;
    this.ready.push(this.queue);
    this.queue = [];
    this.bytes = 0;
  }

  /**
   * A batch goes out at the end of this turn, or the linger after its first record; while one is being stored, the
   * next one fills.
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const go = () => {
      this.scheduled = false;
      if (this.flushing) return; // the batch in flight takes the next one when it is done
      // A timer fires by libuv's millisecond clock, up to 1 ms before its time by performance.now(): then it waits on.
      if (this.lingering()) return;
      this.cut();
      void this.pump();
    };
    if (this.lingerMs > 0) setTimeout(go, Math.max(0, this.firstAt + this.lingerMs - performance.now()));
    else setImmediate(go);
  }

  /**
   * Whether the batch filling now is still within its linger: it then waits for it (a timer is set), also when the
   * batch before it has just been stored. Sending it at once instead would make the batches under load only as big
   * as the records of one PubAck's round trip: 1 to 3 records a message at 1,000 calls/s.
   */
  private lingering(): boolean {
    if (this.lingerMs <= 0 || this.queue.length === 0 || performance.now() - this.firstAt >= this.lingerMs) return false;
    this.schedule();
    return true;
  }

  /**
   * Stores the batches ready, then whatever filled meanwhile, one at a time. Nothing to store starts nothing: an
   * async body that ended at once would run its `finally` before being assigned, leaving `flushing` set for ever
   * (every later batch would then wait on a flush that never comes).
   */
  private pump(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.ready.length === 0) this.cut();
    if (this.ready.length === 0) return Promise.resolve();
    const flushing = this.storeAll().finally(() => {
      if (this.flushing === flushing) this.flushing = undefined;
    });
    this.flushing = flushing;
    return flushing;
  }

  private async storeAll(): Promise<void> {
    for (;;) {
      if (this.ready.length === 0) {
        if (this.lingering()) return;
        this.cut();
      }
      const batch = this.ready.shift();
      if (!batch) return;
      await this.store(batch);
    }
  }

  private async store(batch: Queued[]): Promise<void> {
    const data = `[${batch.map((q) => q.json).join(",")}]`;
    try {
      await this.outbox.publish(RECORD_BATCH_SUBJECT, data, `${this.agentId}.${this.run}.${this.seq++}`);
    } catch (err) {
      // Not durable: every job of the batch hears it (and is not acked); the next batch still goes out.
      for (const q of batch) q.failed(err);
      return;
    }
    for (const q of batch) q.stored();
  }
}
