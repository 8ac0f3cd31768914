// A function's dead letters in WEFT_DEAD_LETTERS (README "Dead letters"): listed in stream order with the direct
// get API (no consumer to create or forget), inspected by id (the last message on weft.dead.{fn}.{id}), re-driven
// as new async invocations of the function's latest version, and purged.
import { jetstreamManager, type JetStreamManager, type StoredMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { DeadLetter, parseStored } from "../shared/async-jobs.js";
import { notFound, WeftError } from "../shared/errors.js";
import type { Logger } from "../shared/logger.js";
import type { DeadLetterView } from "../shared/schemas/dead-letter.js";
import { DEAD_LETTERS_STREAM, deadLetterSubject, deadLettersOf } from "../shared/subjects.js";
import type { Invoker } from "./invoker.js";

/** One POST …/redrive with all: true re-drives at most this many (the answer says which; call again for more). */
export const REDRIVE_ALL_MAX = 1000;
const NO_MESSAGE = 10037;
const PAGE = 100;

export class DeadLetters {
  constructor(
    private readonly nc: NatsConnection,
    private readonly invoker: Invoker,
    private readonly log: Logger,
    private readonly onRedriven: (fn: string, n: number) => void = () => {},
  ) {}

  /** Up to `limit` dead letters after stream sequence `after`, oldest first. */
  async list(fn: string, limit: number, after = 0): Promise<{ deadLetters: DeadLetterView[]; next?: number }> {
    const stored = await this.batch(await this.jsm(), fn, after, limit + 1);
    const page = stored.slice(0, limit);
    const views = page.map(viewOf).filter((v): v is DeadLetterView => v !== undefined);
    return { deadLetters: views, ...(stored.length > limit ? { next: page[page.length - 1]!.seq } : {}) };
  }

  async get(fn: string, id: string): Promise<DeadLetterView> {
    const view = viewOf(await this.stored(await this.jsm(), fn, id));
    if (!view) throw notFound(`dead letter ${id} of function ${fn}`);
    return view;
  }

  /** Re-drives one dead letter, or every one (up to REDRIVE_ALL_MAX); each is removed once its invocation is queued. */
  async redrive(fn: string, id: string | undefined): Promise<Array<{ id: string; invocationId: string }>> {
    const jsm = await this.jsm();
    if (id !== undefined) return [await this.redriveOne(jsm, fn, await this.stored(jsm, fn, id))];
    const done: Array<{ id: string; invocationId: string }> = [];
    let after = 0;
    while (done.length < REDRIVE_ALL_MAX) {
      const stored = await this.batch(jsm, fn, after, Math.min(PAGE, REDRIVE_ALL_MAX - done.length));
      if (stored.length === 0) break;
      for (const m of stored) done.push(await this.redriveOne(jsm, fn, m));
      after = stored[stored.length - 1]!.seq;
    }
    return done;
  }

  async purge(fn: string): Promise<number> {
    const res = await (await this.jsm()).streams.purge(DEAD_LETTERS_STREAM, { filter: deadLettersOf(fn) });
    this.log.info({ fn, purged: res.purged }, "dead letters purged");
    return res.purged;
  }

  private async redriveOne(jsm: JetStreamManager, fn: string, m: StoredMsg | undefined): Promise<{ id: string; invocationId: string }> {
    const letter = m && parseStored(DeadLetter, m.data);
    if (!m || !letter) throw notFound(`dead letter of function ${fn}`);
    const accepted = await this.invoker.invokeAsync({ name: fn, event: Buffer.from(JSON.stringify(letter.event ?? null)), via: "http", message: letter.message });
    await jsm.streams.deleteMessage(DEAD_LETTERS_STREAM, m.seq, false).catch((err: Error) => {
      // Gone already (another redrive, or purged): the event is queued once more, which at-least-once allows.
      if (!/no message found/i.test(err.message)) throw err;
    });
    this.onRedriven(fn, 1);
    this.log.info({ fn, deadLetter: letter.invocationId, invocationId: accepted.invocationId }, "dead letter re-driven");
    return { id: letter.invocationId, invocationId: accepted.invocationId };
  }

  private async stored(jsm: JetStreamManager, fn: string, id: string): Promise<StoredMsg | undefined> {
    try {
      return (await jsm.streams.getMessage(DEAD_LETTERS_STREAM, { last_by_subj: deadLetterSubject(fn, id) })) ?? undefined;
    } catch (err) {
      if (isNoMessage(err)) return undefined;
      throw unavailable(err);
    }
  }

  private async batch(jsm: JetStreamManager, fn: string, after: number, n: number): Promise<StoredMsg[]> {
    const out: StoredMsg[] = [];
    try {
      const it = await jsm.direct.getBatch(DEAD_LETTERS_STREAM, { seq: after + 1, batch: n, next_by_subj: deadLettersOf(fn) });
      for await (const m of it) out.push(m);
    } catch (err) {
      if (!isNoMessage(err)) throw unavailable(err);
    }
    return out;
  }

  private async jsm(): Promise<JetStreamManager> {
    try {
      return await jetstreamManager(this.nc, { timeout: 5000 });
    } catch (err) {
      throw unavailable(err);
    }
  }
}

function isNoMessage(err: unknown): boolean {
  const e = err as { code?: number | string; message?: string };
  return e.code === NO_MESSAGE || e.code === 404 || e.code === "404" || /no message found|not found/i.test(String(e.message));
}

function unavailable(err: unknown): WeftError {
  return err instanceof WeftError ? err : new WeftError("UNAVAILABLE", `dead letters are unavailable: ${(err as Error).message}`, undefined, { cause: err });
}

function viewOf(m: StoredMsg | undefined): DeadLetterView | undefined {
  const d = m && parseStored(DeadLetter, m.data);
  if (!m || !d) return undefined;
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id: d.invocationId,
    seq: m.seq,
    functionName: d.functionName,
    ...(d.version !== undefined ? { version: d.version } : {}),
    reason: d.reason,
    status: d.status,
    ...(d.error ? { error: d.error } : {}),
    attempts: d.attempts.map((a) => ({ ...a, startedAt: iso(a.startedAt), finishedAt: iso(a.finishedAt) })),
    enqueuedAt: iso(d.enqueuedAt),
    deadAt: iso(d.deadAt),
    chainDepth: d.chainDepth,
    ...(d.message ? { message: d.message } : {}),
    event: d.event,
  };
}
