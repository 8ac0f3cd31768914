// GET /healthz: what a gateway reports about itself and the fabric behind it.
import { z } from "zod";
import { AgentStatus } from "./agent.js";

/** An agent as a gateway knows it: its last status, and how long ago it was heard. */
export const KnownAgent = AgentStatus.extend({ lastSeenMs: z.number().describe("milliseconds since this gateway last heard from the agent") });
export type KnownAgent = z.infer<typeof KnownAgent>;

export const HealthReport = z.object({
  status: z.enum(["ok", "unavailable"]).describe("ok (HTTP 200) when invocations can be served"),
  gateway: z.enum(["ok", "stopping"]),
  nats: z.enum(["ok", "unavailable"]),
  functions: z.enum(["ok", "loading"]).describe("the gateway's copy of the function definitions"),
  agents: z.array(KnownAgent),
  controller: z.enum(["ok", "unavailable"]),
  mongo: z.enum(["ok", "unavailable", "unknown"]),
  missing: z.array(z.string()).optional().describe("what keeps the fabric from serving invocations, when status is unavailable"),
});
export type HealthReport = z.infer<typeof HealthReport>;
