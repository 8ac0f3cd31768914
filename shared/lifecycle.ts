// Stopping a component: every clean-up step runs, each bounded in time, even when an earlier one failed
// (BullMQ's close() lesson); and waits on dependencies that may be down are bounded.

/** True if `work` finished within `ms`, false if the deadline came first (the work is left to finish alone). */
export function withDeadline(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work.then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]).finally(() => clearTimeout(timer));
}

export interface StopStep {
  name: string;
  run: () => unknown;
}

interface StepLog {
  warn(obj: object, msg: string): void;
}

/**
 * Runs the steps in order; a step that throws, or does not finish within `stepTimeoutMs`, is logged and the
 * next one runs anyway. Resolves with the first failure (undefined when all went well), never rejects.
 */
export async function runStopSteps(steps: readonly StopStep[], log: StepLog, stepTimeoutMs: number): Promise<unknown> {
  let first: unknown;
  for (const step of steps) {
    try {
      const finished = await withDeadline(Promise.resolve().then(step.run), stepTimeoutMs);
      if (!finished) throw new Error(`${step.name} did not finish within ${stepTimeoutMs} ms`);
    } catch (err) {
      log.warn({ err, step: step.name }, "stop step failed");
      first ??= err;
    }
  }
  return first;
}
