// The supervisors (`npm run up`) this gateway has heard on weft.supervisor.status: which programs they run, which
// restarted, which are in a crash loop. Shown by /healthz; a supervisor not heard for three intervals is forgotten.
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "../shared/logger.js";
import type { KnownSupervisor } from "../shared/schemas/health.js";
import { SUPERVISOR_STATUS_INTERVAL_MS, SupervisorStatus } from "../shared/schemas/supervisor.js";
import { SUPERVISOR_STATUS_SUBJECT } from "../shared/subjects.js";

const FORGET_AFTER_MS = 3 * SUPERVISOR_STATUS_INTERVAL_MS;
/** Anyone on NATS can publish here: a flood of made-up ids must not grow the map without bound. */
const MAX_SUPERVISORS = 64;

export class SupervisorRegistry {
  private readonly seen = new Map<string, { status: SupervisorStatus; at: number }>();
  private readonly sub: Subscription;

  constructor(
    nc: NatsConnection,
    private readonly log: Logger,
  ) {
    this.sub = nc.subscribe(SUPERVISOR_STATUS_SUBJECT, { callback: (err, msg) => { if (!err) this.heard(msg.data); } });
  }

  /** Supervisors heard from recently, most recent first. */
  fresh(now = Date.now()): KnownSupervisor[] {
    const out: KnownSupervisor[] = [];
    for (const [id, { status, at }] of this.seen) {
      if (now - at > FORGET_AFTER_MS) this.seen.delete(id);
      else out.push({ ...status, lastSeenMs: now - at });
    }
    return out.sort((a, b) => a.lastSeenMs - b.lastSeenMs);
  }

  stop(): void {
    this.sub.unsubscribe();
  }

  private heard(data: Uint8Array): void {
    let parsed: ReturnType<typeof SupervisorStatus.safeParse>;
    try {
      parsed = SupervisorStatus.safeParse(JSON.parse(Buffer.from(data).toString("utf8")));
    } catch (err) {
      this.log.warn({ err }, "supervisor status is not JSON; ignored");
      return;
    }
    if (!parsed.success) {
      this.log.warn({ issue: parsed.error.issues[0] }, "supervisor status does not match the schema; ignored");
      return;
    }
    const id = parsed.data.supervisorId;
    if (parsed.data.state === "stopped") {
      this.seen.delete(id);
      return;
    }
    this.seen.delete(id); // re-inserted last: the map's first key is then the one heard longest ago
    if (this.seen.size >= MAX_SUPERVISORS) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(id, { status: parsed.data, at: Date.now() });
  }
}
