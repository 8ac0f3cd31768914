// The controller's configuration, read once from the environment by main.ts (or a test) and passed down.
import { homedir } from "node:os";
import { z } from "zod";
import { buildDirField, commonFields, topologyFields, envField, intFromEnv, boolFromEnv, parseEnv, resolveBuildDir, stringFromEnv, type ConfigOf } from "../shared/config.js";

const optionalString = z.string().default("");

const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;

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
  recordBatch: envField(
    "WEFT_RECORD_BATCH",
    intFromEnv(100, 1, 10_000),
    "record messages per bulk write, at most (a fetch brings at most 100; an agent's message carries up to 256 records)",
  ),
  recordBatchBytes: envField(
    "WEFT_RECORD_BATCH_BYTES",
    // The bound on what the controller holds: 500 agent messages of 256 records were once 100 MiB in hand.
    intFromEnv(4 * 1024 * 1024, 64 * 1024, 256 * 1024 * 1024),
    "bytes of record messages fetched per bulk write, at most (raised to the server's max_payload, so any message fits)",
  ),
  recordFlushMs: envField(
    "WEFT_RECORD_FLUSH_MS",
    // Records are off the call's path: a wider batch means fewer MongoDB writes and listing-page rewrites per record.
    intFromEnv(50, 0, 1000),
    "after the first record of a batch arrives, wait at most this long for more before writing",
  ),
  metricsWindowMs: envField(
    "WEFT_METRICS_WINDOW_MS",
    intFromEnv(24 * HOUR_MS, 1000, 30 * 24 * HOUR_MS),
    "default window of GET /v1/functions/{name}/metrics",
  ),
  rollupFlushMs: envField(
    "WEFT_ROLLUP_FLUSH_MS",
    intFromEnv(1000, 10, 60_000),
    "metrics rollups are written at most this often (a crash loses the counts not yet written; records are unaffected)",
  ),
  recordMaxAgeMs: envField(
    "WEFT_RECORD_MAX_AGE_MS",
    intFromEnv(7 * DAY_MS, 60_000),
    "invocation records are purged once this old (by the time they were last written)",
  ),
  recordMaxPerFunction: envField(
    "WEFT_RECORD_MAX_PER_FUNCTION",
    intFromEnv(100_000, 100),
    "a function keeps about this many of its newest invocation records (in whole listing pages of 50); older ones are purged",
  ),
  rollupMaxAgeMs: envField(
    "WEFT_ROLLUP_MAX_AGE_MS",
    intFromEnv(90 * DAY_MS, 3600_000),
    "per-minute metrics rollups are kept this long (metrics outlive the records they count)",
  ),
  retentionIntervalMs: envField(
    "WEFT_RETENTION_INTERVAL_MS",
    intFromEnv(60_000, 0),
    "look for expired records and rollups this often (0: never purge)",
  ),
  retentionBatch: envField(
    "WEFT_RETENTION_BATCH",
    intFromEnv(1000, 100, 100_000),
    "records purged per step; a step is followed by a pause as long as it took, so reads and ingest keep their share",
  ),
  reconcileIntervalMs: envField(
    "WEFT_RECONCILE_INTERVAL_MS",
    intFromEnv(5 * 60_000, 0),
    "re-mirror MongoDB's functions into the NATS bucket this often (0: only at start and on NATS reconnect)",
  ),
  syntaxCheck: envField("WEFT_SYNTAX_CHECK", boolFromEnv(true), "refuse code that does not parse at deploy time"),
  pythonBin: envField("WEFT_PYTHON_BIN", stringFromEnv("python3"), "interpreter used to parse Python code at deploy time"),
  ...buildDirField,
  dockerSocket: envField("WEFT_DOCKER_SOCKET", stringFromEnv("/var/run/docker.sock"), "Docker engine socket (controller: builder containers; agent: function containers)"),
  buildNetwork: envField("WEFT_BUILD_NETWORK", stringFromEnv("bridge"),
    "Docker network of the builder containers (the only containers with a network, and only while they install dependencies)"),
  buildTimeoutMs: envField("WEFT_BUILD_TIMEOUT_MS", intFromEnv(600_000, 10_000), "a dependency install still running after this is stopped and the build fails"),
  buildMemoryMb: envField("WEFT_BUILD_MEMORY_MB", intFromEnv(2048, 256, 65_536), "memory of a builder container (its build folder, a tmpfs, counts against it)"),
  buildCpus: envField("WEFT_BUILD_CPUS", z.coerce.number().min(0.1).max(64).default(1), "CPUs of a builder container"),
  buildDiskMb: envField("WEFT_BUILD_DISK_MB", intFromEnv(1024, 64, 65_536), "the most a dependency layer may take, and the size of the builder's build folder"),
  buildGcIntervalMs: envField("WEFT_BUILD_GC_INTERVAL_MS", intFromEnv(600_000, 0),
    "look for dependency layers and bundle files no version references this often (0: never remove them)"),
  buildGcGraceMs: envField("WEFT_BUILD_GC_GRACE_MS", intFromEnv(3_600_000, 0),
    "an unreferenced layer or bundle folder is removed once unreferenced this long; keep it above the agents' WEFT_KEEP_ALIVE_MS"),
  buildGcBatch: envField("WEFT_BUILD_GC_BATCH", intFromEnv(20, 1, 10_000), "layers and bundle folders removed per sweep at most"),
  buildCaFile: envField("WEFT_BUILD_CA_FILE", z.string().default("/etc/ssl/certs/ca-certificates.crt"),
    "CA bundle mounted into builders (pip, npm trust it): the host's, so a TLS-inspecting proxy the host trusts works; empty: the image's own"),
  pipIndexUrl: envField("WEFT_PIP_INDEX_URL", optionalString, "pip index URL for builds (PIP_INDEX_URL); empty: PyPI"),
  pipExtraIndexUrl: envField("WEFT_PIP_EXTRA_INDEX_URL", optionalString, "extra pip index URLs for builds (PIP_EXTRA_INDEX_URL)"),
  npmRegistry: envField("WEFT_NPM_REGISTRY", optionalString, "npm registry URL for builds (npm_config_registry); empty: the npm registry"),
  cargoRegistry: envField("WEFT_CARGO_REGISTRY", optionalString,
    "crates.io mirror for rust builds, as cargo names a registry (sparse+https://host/index/), put in place of crates.io; empty: crates.io"),
  buildHttpProxy: envField("WEFT_BUILD_HTTP_PROXY", optionalString, "HTTP_PROXY inside builder containers"),
  buildHttpsProxy: envField("WEFT_BUILD_HTTPS_PROXY", optionalString, "HTTPS_PROXY inside builder containers"),
  buildNoProxy: envField("WEFT_BUILD_NO_PROXY", optionalString, "NO_PROXY inside builder containers"),
};

export type ControllerConfig = ConfigOf<typeof controllerFields>;

export function loadControllerConfig(env: NodeJS.ProcessEnv): ControllerConfig {
  const parsed = parseEnv(controllerFields, env);
  return Object.freeze({ ...parsed, buildDir: resolveBuildDir(parsed.buildDir, env, homedir()) });
}
