// The agents this gateway has heard from: their heartbeats (weft.agents.heartbeat), and a ping when none is fresh.
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { AgentStatus } from "../shared/schemas/agent.js";
import type { KnownAgent } from "../shared/schemas/health.js";
import { AGENT_HEARTBEAT_SUBJECT, AGENT_PING_SUBJECT, isSubjectTail } from "../shared/subjects.js";
import type { Logger } from "../shared/logger.js";

export type { KnownAgent };

export class AgentRegistry {
  private readonly seen = new Map<string, { status: AgentStatus; at: number }>();
  private readonly sub: Subscription;
  /** runningIds()'s answer, kept until the next heartbeat or until an agent in it may have aged out. */
  private running: { ids: readonly string[]; until: number } | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly freshMs: number,
    private readonly log: Logger,
  ) {
    this.sub = nc.subscribe(AGENT_HEARTBEAT_SUBJECT, { callback: (err, msg) => { if (!err) this.heard(msg.data); } });
  }

  /** Agents heard from within the freshness window, most recent first. */
  fresh(now = Date.now()): KnownAgent[] {
    const out: KnownAgent[] = [];
    for (const [id, { status, at }] of this.seen) {
      if (now - at > this.freshMs) this.seen.delete(id);
      else out.push({ ...status, lastSeenMs: now - at });
    }
    return out.sort((a, b) => a.lastSeenMs - b.lastSeenMs);
  }

  /**
   * Invocations the running agents heard from within the freshness window can run at once (their slots), or
   * undefined when none is known (the gateway then cannot tell, and queues as before).
   */
  runningSlots(now = Date.now()): number | undefined {
    let slots = 0;
    let known = false;
    for (const { status, at } of this.seen.values()) {
      if (now - at > this.freshMs || status.state !== "running") continue;
      slots += status.slots;
      known = true;
    }
    return known ? slots : undefined;
  }

  /**
   * The ids of the running agents heard from within the freshness window that take direct calls by name (direct
   * slots, and an id that can end a subject), sorted: the candidates for a function's home on the direct sync path
   * (direct-affinity.ts). Read on every direct call, so it is kept until the next heartbeat or until its oldest
   * agent may have aged out.
   */
  runningIds(now = Date.now()): readonly string[] {
    if (this.running && now < this.running.until) return this.running.ids;
    const ids: string[] = [];
    let until = Infinity;
    for (const [id, { status, at }] of this.seen) {
      if (now - at > this.freshMs || status.state !== "running" || (status.directSlots ?? 0) === 0 || !isSubjectTail(id)) continue;
      ids.push(id);
      until = Math.min(until, at + this.freshMs + 1);
    }
    ids.sort();
    this.running = { ids, until };
    return ids;
  }

  /** Asks any agent to answer at once; used when no heartbeat is fresh (for example just after start). */
  async ping(timeoutMs: number): Promise<void> {
    try {
      const reply = await this.nc.request(AGENT_PING_SUBJECT, "", { timeout: timeoutMs });
      this.heard(reply.data);
    } catch {
      // No agent answered: that is the finding, reported by fresh() staying empty.
    }
  }

  stop(): void {
    this.sub.unsubscribe();
  }

  private heard(data: Uint8Array): void {
    let parsed: ReturnType<typeof AgentStatus.safeParse>;
    try {
      parsed = AgentStatus.safeParse(JSON.parse(Buffer.from(data).toString("utf8")));
    } catch (err) {
      this.log.warn({ err }, "agent status is not JSON; ignored");
      return;
    }
    if (!parsed.success) {
      this.log.warn({ issue: parsed.error.issues[0] }, "agent status does not match the schema; ignored");
      return;
    }
    if (parsed.data.state === "stopped") this.seen.delete(parsed.data.agentId);
    else this.seen.set(parsed.data.agentId, { status: parsed.data, at: Date.now() });
    this.running = undefined;
  }
}
