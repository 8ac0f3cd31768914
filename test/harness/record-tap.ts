// Listens to every invocation record as it is published (a core NATS subscription beside the controller's
// stream consumer), so a test can count the final records of one invocation: a call retried after its
// handler ran shows up here as a second final record or as a final record of attempt 2.
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { RecordEvent } from "../../shared/schemas/invocation.js";
import { RECORDS_SUBJECT_PREFIX } from "../../shared/subjects.js";

export class RecordTap {
  private readonly finals = new Map<string, RecordEvent[]>();
  private readonly waiters = new Map<string, Array<() => void>>();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly sub: Subscription,
  ) {}

  static async start(natsUrl: string): Promise<RecordTap> {
    const nc = await connect({ servers: natsUrl, name: "hostile-record-tap" });
    let tap: RecordTap | undefined;
    const sub = nc.subscribe(`${RECORDS_SUBJECT_PREFIX}.>`, {
      callback: (err, msg) => {
        if (err || !tap) return;
        // An agent's batch (weft.records._batch) is an array of records; a gateway's queued record is one.
        const data = msg.json<unknown>();
        for (const item of Array.isArray(data) ? data : [data]) {
          const parsed = RecordEvent.safeParse(item);
          if (parsed.success && parsed.data.phase === "final") tap.add(parsed.data);
        }
      },
    });
    tap = new RecordTap(nc, sub);
    await nc.flush();
    return tap;
  }

  private add(r: RecordEvent): void {
    this.finals.set(r.invocationId, [...(this.finals.get(r.invocationId) ?? []), r]);
    for (const wake of this.waiters.get(r.invocationId) ?? []) wake();
    this.waiters.delete(r.invocationId);
  }

  /** Final records published so far for one invocation. */
  finalsOf(invocationId: string): RecordEvent[] {
    return this.finals.get(invocationId) ?? [];
  }

  /** Ids of the invocations with a final record whose id starts with `prefix`. */
  idsStartingWith(prefix: string): string[] {
    return [...this.finals.keys()].filter((id) => id.startsWith(prefix));
  }

  /** Invocation ids with more than one final record, or a final record of an attempt after the first. */
  retried(): Array<{ invocationId: string; functionName: string; attempts: Array<number | undefined> }> {
    const out = [];
    for (const [invocationId, rs] of this.finals) {
      if (rs.length > 1 || rs.some((r) => r.attempt !== 1)) out.push({ invocationId, functionName: rs[0]!.functionName, attempts: rs.map((r) => r.attempt) });
    }
    return out;
  }

  /** Resolves with the first final record of the invocation, or rejects after `timeoutMs`. */
  firstFinal(invocationId: string, timeoutMs: number): Promise<RecordEvent> {
    const have = this.finalsOf(invocationId)[0];
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no final record of ${invocationId} within ${timeoutMs} ms`)), timeoutMs);
      const wake = () => {
        clearTimeout(timer);
        resolve(this.finalsOf(invocationId)[0]!);
      };
      this.waiters.set(invocationId, [...(this.waiters.get(invocationId) ?? []), wake]);
    });
  }

  async stop(): Promise<void> {
    this.sub.unsubscribe();
    await this.nc.close();
  }
}
