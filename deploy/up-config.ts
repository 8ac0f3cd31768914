// What `npm run up` reads: its environment variables (listed by deploy/config-table.ts) and its command line.
import { parseArgs } from "node:util";
import { z } from "zod";
import { boolFromEnv, commonFields, envField, intFromEnv, type ConfigOf } from "../shared/config.js";
import { CLUSTER_SIZES } from "./nats-servers.js";
import type { RestartPolicyOptions } from "./restart-policy.js";
import { stopMarginField } from "./stop-grace.js";

export const upFields = {
  httpPort: envField("WEFT_HTTP_PORT", intFromEnv(8080, 1, 65535), "gateway HTTP port"),
  grpcPort: envField("WEFT_GRPC_PORT", intFromEnv(50051, 1, 65535), "gateway gRPC port"),
  natsPort: envField("WEFT_NATS_PORT", intFromEnv(4222, 1, 65535 - 2010),
    "client port of the nats-server up starts (or reuses); a cluster's nodes take the next ones, and routes these + 2000"),
  /** nats-server is started under SCHED_BATCH too (the components set it on themselves). */
  schedBatch: commonFields.schedBatch,
  natsGoMaxProcs: envField("WEFT_NATS_GOMAXPROCS", intFromEnv(0, 0, 4096),
    "GOMAXPROCS of each nats-server up starts; 0: half the host's cores, at least 1 (the server shares the host with the fabric)"),
  skipServices: envField("WEFT_UP_SKIP_SERVICES", boolFromEnv(false), "do not run deploy/services.sh first"),
  stateDir: envField("WEFT_UP_STATE_DIR", z.string().min(1).optional(),
    "directory of the NATS stores and logs"),
  restartDelayMs: envField("WEFT_UP_RESTART_DELAY_MS", intFromEnv(1000, 10, 600_000),
    "wait before restarting a program that died; doubles with each quick death in a row"),
  restartMaxMs: envField("WEFT_UP_RESTART_MAX_MS", intFromEnv(30_000, 10, 3_600_000), "longest wait before a restart"),
  stableMs: envField("WEFT_UP_STABLE_MS", intFromEnv(30_000, 100, 3_600_000),
    "a program that ran this long was healthy: its next death starts the back-off again (and ends a crash loop)"),
  stopMarginMs: stopMarginField,
};
export type UpConfig = ConfigOf<typeof upFields>;

/** Quick deaths in a row that make a crash loop (shown in /healthz and the log). */
export const CRASH_LOOP_AFTER = 3;

export function restartPolicy(c: UpConfig): RestartPolicyOptions {
  return {
    initialDelayMs: c.restartDelayMs,
    maxDelayMs: Math.max(c.restartMaxMs, c.restartDelayMs),
    stableAfterMs: c.stableMs,
    crashLoopAfter: CRASH_LOOP_AFTER,
  };
}

const UpArgs = z.object({
  natsCluster: z.coerce
    .number()
    .int()
    .refine((n) => (CLUSTER_SIZES as readonly number[]).includes(n), `--nats-cluster must be one of ${CLUSTER_SIZES.join(", ")}`)
    .default(1),
  natsSync: z
    .string()
    .regex(/^(always|\d+(ms|s|m|h))$/, "--nats-sync must be always or a duration such as 10s or 2m")
    .optional(),
});
export type UpArgs = z.infer<typeof UpArgs>;

export const UP_USAGE = `usage: npm run up [-- --nats-cluster 3] [--nats-sync always|<duration>]
  --nats-cluster N   run N nats-server nodes (1, 3 or 5) clustered on loopback; streams get min(N, 3) replicas
  --nats-sync S      JetStream fsync policy of the servers up starts (default: the server's, every 2 min)`;

export function parseUpArgs(argv: string[]): UpArgs {
  const { values } = parseArgs({
    args: argv,
    options: { "nats-cluster": { type: "string" }, "nats-sync": { type: "string" }, help: { type: "boolean", short: "h" } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${UP_USAGE}\n`);
    process.exit(0);
  }
  const parsed = UpArgs.safeParse({ natsCluster: values["nats-cluster"], natsSync: values["nats-sync"] });
  if (!parsed.success) throw new Error(`${parsed.error.issues[0]?.message ?? "invalid arguments"}\n${UP_USAGE}`);
  return parsed.data;
}
