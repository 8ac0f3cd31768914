// What an agent announces on weft.agents.heartbeat and answers on weft.agents.ping.
import { z } from "zod";

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
});
export type AgentStatus = z.infer<typeof AgentStatus>;
