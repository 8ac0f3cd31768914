// GET /healthz: ready when this gateway is serving, NATS is connected, the function cache is loaded and at least
// one agent is running. The controller (and through it MongoDB) is reported but not required: invocations do
// not need it. Supervisors (npm run up) are reported with the programs they run; a program in a crash loop is
// listed in crashLoops but changes the status only through what it breaks (no agent running, say).
import type { Logger } from "../shared/logger.js";
import type { HealthReport, KnownAgent } from "../shared/schemas/health.js";
import type { AgentRegistry } from "./agent-registry.js";
import type { ControllerClient } from "./controller-client.js";
import type { FunctionCache } from "./function-cache.js";
import type { NatsLink } from "./nats-link.js";
import { SupervisorRegistry } from "./supervisor-registry.js";

const PROBE_TIMEOUT_MS = 1000;

export type { HealthReport };

export class Health {
  // Subscribes on the gateway's own connection, so it ends when the gateway closes NATS.
  private readonly supervisors: SupervisorRegistry;

  constructor(
    private readonly deps: {
      link: NatsLink;
      cache: FunctionCache;
      agents: AgentRegistry;
      controller: ControllerClient;
      isStopping: () => boolean;
      log: Logger;
    },
  ) {
    this.supervisors = new SupervisorRegistry(deps.link.nc, deps.log);
  }

  async report(): Promise<HealthReport> {
    const { link, cache, agents } = this.deps;
    const natsUp = link.up;
    if (natsUp && !agents.fresh().some(isRunning)) await agents.ping(PROBE_TIMEOUT_MS);
    const known = natsUp ? agents.fresh() : [];
    const ctl = natsUp ? await this.controller() : { controller: "unavailable" as const, mongo: "unknown" as const };
    const missing: string[] = [];
    if (this.deps.isStopping()) missing.push("gateway (stopping)");
    if (!natsUp) missing.push("nats");
    if (!cache.isReady) missing.push("functions (cache loading)");
    if (!known.some(isRunning)) missing.push("agents (none running)");
    return {
      status: missing.length ? "unavailable" : "ok",
      gateway: this.deps.isStopping() ? "stopping" : "ok",
      nats: natsUp ? "ok" : "unavailable",
      functions: cache.isReady ? "ok" : "loading",
      agents: known,
      ...ctl,
      ...(missing.length ? { missing } : {}),
      ...this.supervision(natsUp),
    };
  }

  private supervision(natsUp: boolean): Pick<HealthReport, "supervisors" | "crashLoops"> {
    const supervisors = natsUp ? this.supervisors.fresh() : [];
    if (supervisors.length === 0) return {};
    const crashLoops = supervisors.flatMap((s) =>
      s.components.filter((c) => c.crashLoop).map((c) => `${c.name} on ${s.host}: ${c.restarts} restarts, last ${c.lastExit ?? "?"}`),
    );
    return { supervisors, ...(crashLoops.length ? { crashLoops } : {}) };
  }

  private async controller(): Promise<Pick<HealthReport, "controller" | "mongo">> {
    try {
      const h = await this.deps.controller.health(PROBE_TIMEOUT_MS);
      return { controller: "ok", mongo: h.mongo === "ok" ? "ok" : "unavailable" };
    } catch (err) {
      this.deps.log.debug({ err }, "controller health probe failed");
      return { controller: "unavailable", mongo: "unknown" };
    }
  }
}

const isRunning = (a: KnownAgent) => a.state === "running";
