// Configuration is read from the environment once, in main.ts, validated here, frozen, and passed down.
import { z } from "zod";
import { DEFAULT_TOPOLOGY, type TopologyOptions } from "./nats.js";

/** A schema field read from one environment variable. */
export interface EnvField<T extends z.ZodType> {
  env: string;
  schema: T;
  doc: string;
}

export const envField = <T extends z.ZodType>(env: string, schema: T, doc: string): EnvField<T> => ({ env, schema, doc });

export const intFromEnv = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(def);
export const boolFromEnv = (def: boolean) =>
  z.enum(["true", "false", "1", "0"]).default(def ? "true" : "false").transform((v) => v === "true" || v === "1");
export const stringFromEnv = (def: string) => z.string().min(1).default(def);

type Fields = Record<string, EnvField<z.ZodType>>;
export type ConfigOf<F extends Fields> = { readonly [K in keyof F]: z.infer<F[K]["schema"]> };

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Validates every field; an invalid value stops start-up with the variable's name and the rule it broke. */
export function parseEnv<F extends Fields>(fields: F, env: NodeJS.ProcessEnv): ConfigOf<F> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, field] of Object.entries(fields)) {
    const raw = env[field.env];
    const parsed = field.schema.safeParse(raw === "" ? undefined : raw);
    if (parsed.success) out[key] = parsed.data;
    else problems.push(`${field.env}=${JSON.stringify(raw)}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  }
  if (problems.length) throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  return Object.freeze(out) as ConfigOf<F>;
}

/**
 * Where bundles' files and dependency layers live on the host (controller writes, agents mount read-only): the
 * same folder for both, on one machine or a shared file system. Default: $WEFT_STATE_DIR/builds, else ~/.weft/builds.
 */
export const buildDirField = {
  buildDir: envField("WEFT_BUILD_DIR", z.string().default(""),
    "controller and agent: where bundles' files and dependency layers are kept (the controller writes them, agents mount them read-only); the same folder for both"),
};

/** The build directory a component uses: its setting, else under the state directory, else under ~/.weft. */
export const resolveBuildDir = (configured: string, env: NodeJS.ProcessEnv, home: string): string =>
  configured || `${env.WEFT_STATE_DIR || `${home}/.weft`}/builds`;

/** Fields every component shares. */
export const commonFields = {
  natsUrl: envField("WEFT_NATS_URL", stringFromEnv("nats://127.0.0.1:4222"), "NATS server URL(s), comma-separated"),
  logLevel: envField(
    "WEFT_LOG_LEVEL",
    z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
    "pino log level",
  ),
  schedBatch: envField(
    "WEFT_SCHED_BATCH",
    boolFromEnv(true),
    "run the component's threads under SCHED_BATCH: the same CPU weight, but a thread that wakes never preempts the one running (README, Performance); also for the nats-server that npm run up and the FerretDB that deploy/services.sh start (the systemd units set CPUSchedulingPolicy=batch themselves)",
  ),
};

/**
 * The JetStream settings of the fabric. Only the controller reads these and declares the streams and the
 * jobs consumer; gateways and agents wait for that declaration and read the values from the server, so one
 * setting can never be two (REVIEW C2).
 */
export const topologyFields = {
  jobAckWaitMs: envField("WEFT_JOB_ACK_WAIT_MS", intFromEnv(DEFAULT_TOPOLOGY.jobAckWaitMs, 1000), "redeliver a job whose agent went silent this long (agents read it from the server)"),
  jobMaxDeliver: envField("WEFT_JOB_MAX_DELIVER", intFromEnv(DEFAULT_TOPOLOGY.jobMaxDeliver, 1, 100), "attempts per job before it is given up (agents read it from the server)"),
  jobMaxAgeMs: envField("WEFT_JOB_MAX_AGE_MS", intFromEnv(DEFAULT_TOPOLOGY.jobMaxAgeMs, 1000), "a queued job expires after this"),
  streamReplicas: envField("WEFT_STREAM_REPLICAS", intFromEnv(DEFAULT_TOPOLOGY.replicas, 1, 5),
    "copies of each JetStream stream, consumer and the functions bucket: 1 on a single nats-server, 3 on a cluster of three (npm run up --nats-cluster 3 sets it)"),
};

export function topologyFrom(c: ConfigOf<typeof topologyFields>): TopologyOptions {
  return {
    ...DEFAULT_TOPOLOGY,
    jobAckWaitMs: c.jobAckWaitMs,
    jobMaxDeliver: c.jobMaxDeliver,
    jobMaxAgeMs: c.jobMaxAgeMs,
    replicas: c.streamReplicas,
  };
}
