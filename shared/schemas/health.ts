// GET /healthz: what a gateway reports about itself and the fabric behind it.
import { z } from "zod";
import { AgentStatus } from "./agent.js";
import { SupervisorStatus } from "./supervisor.js";

/** An agent as a gateway knows it: its last status, and how long ago it was heard. */
export const KnownAgent = AgentStatus.extend({ lastSeenMs: z.number().describe("milliseconds since this gateway last heard from the agent") });
export type KnownAgent = z.infer<typeof KnownAgent>;

/** A supervisor (npm run up) as a gateway knows it: its last status, and how long ago it was heard. */
export const KnownSupervisor = SupervisorStatus.extend({ lastSeenMs: z.number().describe("milliseconds since this gateway last heard from the supervisor") });
export type KnownSupervisor = z.infer<typeof KnownSupervisor>;

export const HealthReport = z.object({
  status: z.enum(["ok", "unavailable"]).describe("ok (HTTP 200) when invocations can be served"),
  gateway: z.enum(["ok", "stopping"]),
  nats: z.enum(["ok", "unavailable"]),
  functions: z.enum(["ok", "loading"]).describe("the gateway's copy of the function definitions"),
  agents: z.array(KnownAgent),
  controller: z.enum(["ok", "unavailable"]),
  mongo: z.enum(["ok", "unavailable", "unknown"]),
  missing: z.array(z.string()).optional().describe("what keeps the fabric from serving invocations, when status is unavailable"),
  supervisors: z.array(KnownSupervisor).optional().describe("the supervisors heard on weft.supervisor.status and the programs they run (absent when none announces itself)"),
  crashLoops: z
    .array(z.string())
    .optional()
    .describe("supervised programs that keep dying soon after they start, e.g. \"controller on host-1: 4 restarts, last exit code 2 after 0.3 s\"; they change status only through what they break"),
});
export type HealthReport = z.infer<typeof HealthReport>;
