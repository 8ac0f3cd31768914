// Batch scheduling for the fabric's own processes (WEFT_SCHED_BATCH, on by default): the gateway, controller and
// agent put their threads under SCHED_BATCH as they start, and nats-server and FerretDB are started under it
// (chrt, from util-linux). SCHED_BATCH keeps a process's CPU weight (nice and cgroup limits apply as before); a
// batch thread that wakes never preempts the thread running, it waits for that one's slice to end or yield.
// Every call crosses five processes and each hop is a write that wakes the next: with wake-up preemption the
// writer lost its CPU inside the write, and a loaded two-core host spent its time switching rather than serving
// (a fifth to a third of each component's busy samples sat in writeBuffer/writev). The runner and the function's
// worker are batch-scheduled inside their containers for the same reason (deploy/images/runner/main.go).
import { spawnSync } from "node:child_process";
import { commonFields } from "./config.js";

const CHRT = "chrt";

/**
 * Puts every thread of process `pid` under SCHED_BATCH; threads it starts later inherit the policy. Needs no
 * privilege for the caller's own processes. Returns why it could not, or undefined.
 */
export function scheduleAsBatch(pid: number): string | undefined {
  const r = spawnSync(CHRT, ["--batch", "--all-tasks", "--pid", "0", String(pid)], { stdio: ["ignore", "ignore", "pipe"], timeout: 5000 });
  if (r.error) return `${CHRT} could not run (${r.error.message}); install util-linux`;
  if (r.status !== 0) return `${CHRT} failed: ${r.stderr.toString().trim() || `exit ${r.status}`}`;
  return undefined;
}

let batchWorks: boolean | undefined;

/** Whether chrt runs here and may start a program under SCHED_BATCH (tried once, on `true`). */
function canStartUnderBatch(): boolean {
  batchWorks ??= spawnSync(CHRT, ["--batch", "0", "true"], { stdio: "ignore", timeout: 5000 }).status === 0;
  return batchWorks;
}

/**
 * The command and arguments that run `binary args` under SCHED_BATCH from its first instruction (chrt execs it,
 * so the pid is the server's own), or them unchanged when `batch` is off, or chrt is missing or may not set the
 * policy here (the server must start either way).
 */
export function underBatch(binary: string, args: readonly string[], batch = true): { command: string; args: string[] } {
  if (!batch || !canStartUnderBatch()) return { command: binary, args: [...args] };
  return { command: CHRT, args: ["--batch", "0", binary, ...args] };
}

/**
 * WEFT_SCHED_BATCH as the harnesses read it, with the components' own field (a value the field refuses leaves it
 * on, the default; a component would refuse to start on it).
 */
export function batchScheduled(env: NodeJS.ProcessEnv = process.env): boolean {
  const parsed = commonFields.schedBatch.schema.safeParse(env.WEFT_SCHED_BATCH);
  return parsed.success ? parsed.data : true;
}
