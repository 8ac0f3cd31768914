// Runs a component as a program: configuration from the environment (once), telemetry, logger, signals.
// Each component's main.ts is one call to runProgram; everything else lives in its app.ts.
import { ConfigError } from "./config.js";
import { createLogger, type Logger } from "./logger.js";
import { scheduleAsBatch } from "./sched-batch.js";
import { startTelemetry } from "./telemetry.js";

export interface ProgramSpec<C extends { logLevel: string; schedBatch: boolean }, S extends { stop(): Promise<void> }> {
  /** "gateway", "controller", "agent": names the logger and the OpenTelemetry service (weft-<name>). */
  name: string;
  loadConfig(env: NodeJS.ProcessEnv): C;
  start(config: C, log: Logger): Promise<S>;
}

function loadOrExit<C>(name: string, load: (env: NodeJS.ProcessEnv) => C): C {
  try {
    return load(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`weft ${name}: ${err.message}\n`);
    process.exit(2);
  }
}

/**
 * The last line of defence: an exception that escaped every handler is logged and the component keeps
 * serving. Each one is a bug (every edge turns bad input into an outcome), but one input must never take a
 * component, and every job it holds, down with it.
 */
export function guardProcess(log: Logger): void {
  process.on("uncaughtException", (err) => log.error({ err }, "uncaught exception (a bug); still serving"));
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled rejection (a bug); still serving"));
}

export async function runProgram<C extends { logLevel: string; schedBatch: boolean }, S extends { stop(): Promise<void> }>(
  spec: ProgramSpec<C, S>,
): Promise<void> {
  const config = loadOrExit(spec.name, spec.loadConfig);
  const telemetry = await startTelemetry(`weft-${spec.name}`, process.env);
  const log = createLogger(spec.name, config.logLevel);
  guardProcess(log);
  if (config.schedBatch) {
    const why = scheduleAsBatch(process.pid);
    if (why) log.warn({ reason: why }, "running under the normal scheduling policy (WEFT_SCHED_BATCH=false silences this)");
  }
  let started: S;
  try {
    started = await spec.start(config, log);
  } catch (err) {
    log.fatal({ err }, `${spec.name} did not start`);
    await telemetry.shutdown();
    process.exit(1);
  }
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    // A second signal while draining means "now": exit without waiting.
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, "signal received; stopping");
    let code = 0;
    try {
      await started.stop();
    } catch (err) {
      log.error({ err }, "did not stop cleanly");
      code = 1;
    }
    await telemetry.shutdown().catch((err: unknown) => log.warn({ err }, "flushing traces failed"));
    process.exit(code);
  };
  process.on("SIGINT", (s) => void stop(s));
  process.on("SIGTERM", (s) => void stop(s));
}
