// The agent's end of the direct sync path (WEFT_SYNC_PATH=direct at a gateway): synchronous calls arrive as core
// NATS requests on weft.direct.{fn}, one agent of a queue group each, with nothing stored in JetStream. A call is
// taken while this agent has a direct slot, and it then counts against the job consumer's slots too (a busy agent
// pulls no queued jobs meanwhile). One it cannot take now (no slot, draining) is handed back at once, and the
// gateway queues it on WEFT_JOBS for whichever agent is free. Besides the queue group's subjects, the agent takes the
// calls a gateway sends to it by name (weft.direct.{fn}.{agent id}): those of the functions it is home to, whose warm
// containers it holds (gateway/direct-affinity.ts).
import { headers as natsHeaders, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { HEADERS } from "../shared/headers.js";
import type { Logger } from "../shared/logger.js";
import { agentDirectWildcard, DIRECT_AGENTS_QUEUE, DIRECT_WILDCARD, isSubjectTail } from "../shared/subjects.js";

export interface DirectIntakeOptions {
  /** Direct calls taken at once (WEFT_AGENT_DIRECT_SLOTS); 0 takes none (the agent does not subscribe). */
  slots: number;
  /** This agent's id: it also takes the calls sent to it by name, when the id can end a subject. */
  agentId: string;
}

/** Runs one direct call; calls `slotFree` once its container is released. */
export type DirectHandler = (msg: Msg, slotFree: () => void) => Promise<void>;

/** Takes a slot of the agent's shared budget (JobConsumer.occupy); the function returned gives it back. */
export type SlotTaker = () => () => void;

export class DirectIntake {
  private readonly subs: Subscription[] = [];
  /** Calls holding a direct slot (until their container is released). */
  private running = 0;
  /** Calls not yet done (running, or storing their record). */
  private unfinished = 0;
  private stopping = false;
  private idle: (() => void) | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: DirectIntakeOptions,
    private readonly occupy: SlotTaker,
    private readonly handle: DirectHandler,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.opts.slots === 0) return;
    this.subs.push(this.subscribe(DIRECT_WILDCARD));
    // In the queue group too: two agents given the same id by mistake still run each call once.
    if (isSubjectTail(this.opts.agentId)) this.subs.push(this.subscribe(agentDirectWildcard(this.opts.agentId)));
    else this.log.warn({ agentId: this.opts.agentId }, "this agent's id cannot end a NATS subject (an empty part between dots): gateways will not send it calls by name");
  }

  private subscribe(subject: string): Subscription {
    return this.nc.subscribe(subject, {
      queue: DIRECT_AGENTS_QUEUE,
      callback: (err, msg) => {
        if (err) this.log.warn({ err, subject }, "direct call subscription error");
        else this.take(msg);
      },
    });
  }

  /**
   * Stops taking direct calls: those already delivered to this agent are handed back (drained, not dropped, so no
   * caller waits for an answer that cannot come); resolves when the calls running have answered.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.subs.map((sub) => sub.drain().catch((err: unknown) => this.log.debug({ err }, "draining a direct subscription failed"))));
    if (this.unfinished > 0) await new Promise<void>((resolve) => (this.idle = resolve));
  }

  private take(msg: Msg): void {
    if (!msg.reply) return; // a request only: nobody would hear the result
    if (this.stopping || this.running >= this.opts.slots) {
      handBack(msg, this.log);
      return;
    }
    this.running++;
    this.unfinished++;
    const release = this.occupy();
    let held = true;
    const slotFree = () => {
      if (!held) return;
      held = false;
      this.running--;
      release();
    };
    this.handle(msg, slotFree)
      .catch((err: unknown) => this.log.error({ err }, "direct call handler failed"))
      .finally(() => {
        slotFree();
        if (--this.unfinished === 0) this.idle?.();
      });
  }
}

/** Answers a direct call this agent did not run to an outcome: the gateway queues it on WEFT_JOBS instead. */
export function handBack(msg: Msg, log: Logger): void {
  const h = natsHeaders();
  h.set(HEADERS.handBack, "1");
  try {
    msg.respond(EMPTY, { headers: h });
  } catch (err) {
    // The connection is closing: the gateway's request times out and the call is answered as lost.
    log.warn({ err }, "handing a direct call back failed");
  }
}

const EMPTY = new Uint8Array(0);
