// The controller's configuration, read once from the environment by main.ts (or a test) and passed down.
import { commonFields, topologyFields, envField, intFromEnv, boolFromEnv, parseEnv, stringFromEnv, type ConfigOf } from "../shared/config.js";

const HOUR_MS = 3600_000;

export const controllerFields = {
  ...commonFields,
  ...topologyFields,
  mongoUrl: envField("WEFT_MONGO_URL", stringFromEnv("mongodb://127.0.0.1:27017"), "MongoDB (or wire-compatible) URL"),
  mongoDb: envField("WEFT_MONGO_DB", stringFromEnv("weft"), "database holding functions, versions and invocation records"),
  mongoTimeoutMs: envField(
    "WEFT_MONGO_TIMEOUT_MS",
    intFromEnv(2000, 100, 60_000),
    "how long a call waits for MongoDB before it answers UNAVAILABLE",
  ),
  recordBatch: envField("WEFT_RECORD_BATCH", intFromEnv(500, 1, 10_000), "invocation records written to MongoDB per bulk write"),
  recordFlushMs: envField(
    "WEFT_RECORD_FLUSH_MS",
    intFromEnv(5, 0, 1000),
    "after the first record of a batch arrives, wait at most this long for more before writing",
  ),
  metricsWindowMs: envField(
    "WEFT_METRICS_WINDOW_MS",
    intFromEnv(24 * HOUR_MS, 1000, 30 * 24 * HOUR_MS),
    "default window of GET /v1/functions/{name}/metrics",
  ),
  metricsMaxRecords: envField(
    "WEFT_METRICS_MAX_RECORDS",
    intFromEnv(1_000_000, 1),
    "metrics read at most this many of the newest records in the window",
  ),
  reconcileIntervalMs: envField(
    "WEFT_RECONCILE_INTERVAL_MS",
    intFromEnv(5 * 60_000, 0),
    "re-mirror MongoDB's functions into the NATS bucket this often (0: only at start and on NATS reconnect)",
  ),
  syntaxCheck: envField("WEFT_SYNTAX_CHECK", boolFromEnv(true), "refuse code that does not parse at deploy time"),
  pythonBin: envField("WEFT_PYTHON_BIN", stringFromEnv("python3"), "interpreter used to parse Python code at deploy time"),
};

export type ControllerConfig = ConfigOf<typeof controllerFields>;

export function loadControllerConfig(env: NodeJS.ProcessEnv): ControllerConfig {
  return parseEnv(controllerFields, env);
}
