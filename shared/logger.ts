// pino loggers: JSON objects, one child per invocation carrying invocationId and traceId.
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(component: string, level: string): Logger {
  return pino({ level, base: { component, pid: process.pid } });
}

export function invocationLogger(log: Logger, invocationId: string, traceId: string, functionName: string): Logger {
  return log.child({ invocationId, traceId, fn: functionName });
}
