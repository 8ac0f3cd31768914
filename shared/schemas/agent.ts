// What an agent announces on weft.agents.heartbeat and answers on weft.agents.ping, and how the HTTP API
// lists the agents a gateway has heard from (GET /v1/agents).
import { z } from "zod";
import { ISOLATIONS } from "./function.js";
import { IMAGE_RUNTIMES } from "../runtimes.js";

/** One runtime × isolation on an agent: its containers by state, and its ready stem cells. */
export const PoolStatus = z.object({
  runtime: z.enum(IMAGE_RUNTIMES),
  isolation: z.enum(ISOLATIONS),
  /** Warm containers bound to a function and free for another call. */
  idle: z.number().int(),
  /** Containers running a call now. */
  busy: z.number().int(),
  /** Containers still starting (cold starts and stem cells alike). */
  starting: z.number().int(),
  /** Ready stem cells: started, not yet bound to a function. */
  stemCells: z.number().int(),
});
export type PoolStatus = z.infer<typeof PoolStatus>;

export const AgentStatus = z.object({
  agentId: z.string(),
  host: z.string(),
  state: z.enum(["starting", "running", "draining", "stopped"]),
  slots: z.number().int(),
  busy: z.number().int(),
  containers: z.number().int(),
  stemCells: z.number().int(),
  /** Records waiting in the agent's outbox for JetStream to store them (normally 0). */
  outbox: z.number().int().optional(),
  at: z.number(),
  /** Memory of the agent's containers against its budget (absent from agents that predate it). */
  memoryMb: z.object({ used: z.number(), total: z.number() }).optional(),
  /** Containers per runtime × isolation (absent from agents that predate it). */
  pools: z.array(PoolStatus).optional(),
  /** When the agent started, ms since the epoch. */
  startedAt: z.number().optional(),
  /**
   * Direct sync calls the agent takes at once (WEFT_AGENT_DIRECT_SLOTS), on the queue group's subject and on its own
   * (weft.direct.{name}.{agent id}); absent from agents that predate calls sent by name, which gateways never pick as
   * a function's home.
   */
  directSlots: z.number().int().min(0).optional(),
});
export type AgentStatus = z.infer<typeof AgentStatus>;

/** An agent as GET /v1/agents and GET /v1/agents/{id} show it. */
export const AgentView = AgentStatus.extend({
  /** Milliseconds since this gateway last heard from the agent. */
  lastSeenMs: z.number(),
});
export type AgentView = z.infer<typeof AgentView>;

export const AgentList = z.object({ agents: z.array(AgentView) });

/** The path of GET /v1/agents/{id}. */
export const AgentIdParams = z.object({ id: z.string().min(1).max(256).describe("the agent's id (WEFT_AGENT_ID)") });
export type AgentList = z.infer<typeof AgentList>;
