// The gateway's configuration, read once from the environment by main.ts (or a test) and passed down.
import { z } from "zod";
import { boolFromEnv, commonFields, envField, intFromEnv, parseEnv, stringFromEnv, type ConfigOf } from "../shared/config.js";

export const gatewayFields = {
  ...commonFields,
  httpHost: envField("WEFT_HTTP_HOST", stringFromEnv("127.0.0.1"), "address the HTTP API listens on"),
  httpPort: envField("WEFT_HTTP_PORT", intFromEnv(8080, 0, 65535), "HTTP port (0: an ephemeral port)"),
  grpcHost: envField("WEFT_GRPC_HOST", stringFromEnv("127.0.0.1"), "address the gRPC API listens on"),
  grpcPort: envField("WEFT_GRPC_PORT", intFromEnv(50051, 0, 65535), "gRPC port (0: an ephemeral port)"),
  gatewayId: envField(
    "WEFT_GATEWAY_ID",
    z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must match [A-Za-z0-9_-]{1,64}").optional(),
    "names this gateway's reply inbox (default: random)",
  ),
  syncWaitMs: envField(
    "WEFT_SYNC_WAIT_MS",
    intFromEnv(60_000, 100, 3_600_000),
    "a synchronous call waits at most this long (and at most the function's timeout + 30 s), then answers 202",
  ),
  recordSyncEvents: envField(
    "WEFT_RECORD_SYNC_EVENTS",
    boolFromEnv(false),
    "synchronous calls also send a queued record (the agent's final record already carries a sync call's event; true adds one NATS and one MongoDB write per call)",
  ),
  syncPath: envField(
    "WEFT_SYNC_PATH",
    z.enum(["queue", "direct"]).default("queue"),
    "how HTTP and gRPC sync calls reach an agent: queue (a JetStream job: at least once, survives an agent's loss) or direct (a core NATS request to an agent with a free slot: no stored job, at most once; a call no agent can take now is queued as before)",
  ),
  directAffinity: envField(
    "WEFT_DIRECT_AFFINITY",
    boolFromEnv(true),
    "with WEFT_SYNC_PATH=direct, a function's calls go to one agent, its home (rendezvous hashing of its name over the running agents), so they find its warm containers there, until it runs 1.25 x its share of the gateway's direct calls in flight plus 4 (the next agent in the function's ranking then takes them); false: any agent of the queue group",
  ),
  buildWaitMs: envField("WEFT_BUILD_WAIT_MS", intFromEnv(10_000, 0, 600_000),
    "a call to a version whose build is still running waits at most this long for it, then answers 503 BUILD_PENDING"),
  maxInflight: envField(
    "WEFT_MAX_INFLIGHT",
    intFromEnv(256, 1),
    "invocations this gateway handles at once; past it a call is shed at once with 429 and Retry-After (size it to calls/s × seconds a call may take: slow functions need more)",
  ),
  adaptiveAdmission: envField(
    "WEFT_ADAPTIVE_ADMISSION",
    boolFromEnv(true),
    "while the gateway's event loop never idles and it is shedding, it admits fewer synchronous calls (down to 8), and more again once it has room (never above two per running slot nor WEFT_MAX_INFLIGHT): under overload the refusals stay quick and the admitted calls fast",
  ),
  publishTimeoutMs: envField(
    "WEFT_PUBLISH_TIMEOUT_MS",
    intFromEnv(3000, 100, 60_000),
    "a JetStream publish not acknowledged within this answers 503",
  ),
  publishRetryMs: envField(
    "WEFT_PUBLISH_RETRY_MS",
    intFromEnv(20_000, 0, 120_000),
    "a job publish (or idempotency key claim) that no stream received (no responders: a NATS cluster electing the stream's leader, 4 to 9 s a round, longer on a loaded host) is tried again for this long before the call answers 503",
  ),
  controllerTimeoutMs: envField(
    "WEFT_CONTROLLER_TIMEOUT_MS",
    intFromEnv(5000, 100, 60_000),
    "a controller request (CRUD, records, metrics) not answered within this answers 503",
  ),
  executeRatePerSec: envField("WEFT_EXECUTE_RATE", z.coerce.number().min(0.01).max(100_000).default(10),
    "ad-hoc executions (POST /v1/execute) a client address may start per second on average (past it: 429 with Retry-After)"),
  executeBurst: envField("WEFT_EXECUTE_BURST", intFromEnv(20, 1, 100_000), "ad-hoc executions a client address may start at once before the rate applies"),
  agentSeenMs: envField("WEFT_AGENT_SEEN_MS", intFromEnv(6000, 100), "an agent heard from within this counts as ready"),
  consoleDir: envField(
    "WEFT_CONSOLE_DIR",
    stringFromEnv("clients/console/dist"),
    "the built web console served at / (relative to the checkout unless absolute)",
  ),
  shutdownGraceMs: envField(
    "WEFT_SHUTDOWN_GRACE_MS",
    intFromEnv(10_000, 0),
    "on stop, in-flight synchronous calls get this long to finish before their connections are closed",
  ),
};

export type GatewayConfig = ConfigOf<typeof gatewayFields>;

export function loadGatewayConfig(env: NodeJS.ProcessEnv): GatewayConfig {
  return parseEnv(gatewayFields, env);
}
