// What a supervisor (`npm run up`) announces on weft.supervisor.status: the state of every program it runs, so a
// gateway's /healthz can show a component that keeps dying (a crash loop) while the rest of the fabric serves.
import { z } from "zod";

/** How often a supervisor announces itself; a gateway forgets one it has not heard from for three of these. */
export const SUPERVISOR_STATUS_INTERVAL_MS = 2000;

export const SupervisedComponent = z.object({
  /** "nats-server", "nats-1", "controller", "agent", "gateway". */
  name: z.string().min(1).max(64),
  /** restarting: it died and waits out its back-off before the next start. */
  state: z.enum(["running", "restarting", "stopping", "stopped"]),
  pid: z.number().int().positive().optional(),
  /** Starts after the first one. */
  restarts: z.number().int().min(0),
  /** It died at least three times in a row, each time soon after it started. */
  crashLoop: z.boolean(),
  /** How the last run ended, e.g. "exit code 2 after 0.4 s" or "SIGKILL after 61.2 s". */
  lastExit: z.string().max(200).optional(),
  /** When restarting: the back-off left before the next start. */
  restartInMs: z.number().int().min(0).optional(),
});
export type SupervisedComponent = z.infer<typeof SupervisedComponent>;

export const SupervisorStatus = z.object({
  supervisorId: z.string().min(1).max(128),
  host: z.string().max(256),
  state: z.enum(["running", "stopping", "stopped"]),
  components: z.array(SupervisedComponent).max(64),
  at: z.number(),
});
export type SupervisorStatus = z.infer<typeof SupervisorStatus>;
