// The agent's configuration: read once from the environment in main.ts, validated, frozen, passed down.
import { homedir, hostname } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { ConfigError, buildDirField, resolveBuildDir, boolFromEnv, commonFields, envField, intFromEnv, parseEnv, stringFromEnv, type ConfigOf } from "../shared/config.js";
import { ISOLATIONS } from "../shared/schemas/function.js";
import { imageRuntimeOf, isCompiled, resolveRuntime, RUNTIME_NAMES, type ImageRuntime } from "../shared/runtimes.js";
import { DEFAULT_BASE_IMAGE, DEFAULT_TRIXIE_BASE_IMAGE, RUNTIME_IMAGES } from "../deploy/images.js";
import { DEFAULT_SECCOMP_PROFILE } from "./seccomp.js";

const listOf = <T extends string>(allowed: readonly T[], def: string) =>
  z
    .string()
    .default(def)
    .transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(z.enum(allowed as [T, ...T[]])));

/** A list of runtime names (aliases allowed: python3 means python3.13), as the image runtimes they run on. */
const runtimeList = (def: string) =>
  listOf(RUNTIME_NAMES, def)
    .refine((names) => !names.some(isCompiled), "rust has no stem cells or ad-hoc runs (a rust function's worker is its own compiled binary)")
    .transform((names) => [...new Set(names.map((n) => imageRuntimeOf(resolveRuntime(n))))]);

/** By default only the newest runtimes get stem cells and run ad-hoc code: an older runtime's function costs a cold start, and its ad-hoc code needs WEFT_EXEC_RUNTIMES. */
const NEWEST_RUNTIMES = "python3.13,nodejs20";

const AGENT_ID = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, "must match [A-Za-z0-9][A-Za-z0-9_.-]{0,127}");

export const agentFields = {
  ...commonFields,
  agentId: envField("WEFT_AGENT_ID", AGENT_ID.default(hostname().replace(/[^A-Za-z0-9_.-]/g, "-") || "agent"),
    "stable id of this agent; labels its containers so a restart can remove what a crash left behind"),
  slots: envField("WEFT_AGENT_SLOTS", intFromEnv(32, 1, 10_000), "invocations this agent runs at once (it pulls only for free slots)"),
  directSlots: envField("WEFT_AGENT_DIRECT_SLOTS", intFromEnv(256, 0, 10_000),
    "direct sync calls (WEFT_SYNC_PATH=direct) this agent takes at once, beyond which it hands them back to be queued; they count against WEFT_AGENT_SLOTS, so a busy agent pulls no queued jobs; 0: none"),
  memoryMb: envField("WEFT_AGENT_MEMORY_MB", intFromEnv(0, 0), "memory budget for containers; 0 = 75% of the host's memory"),
  keepAliveMs: envField("WEFT_KEEP_ALIVE_MS", intFromEnv(600_000, 1000), "an idle warm container is stopped after this"),
  stemCells: envField("WEFT_STEM_CELLS", intFromEnv(1, 0, 32), "pre-started runtime containers per runtime × isolation"),
  stemRuntimes: envField("WEFT_STEM_RUNTIMES", runtimeList(NEWEST_RUNTIMES), "runtimes that get stem cells (names or aliases)"),
  stemIsolations: envField("WEFT_STEM_ISOLATIONS", listOf(ISOLATIONS, "runc,gvisor"), "isolations that get stem cells"),
  stemMemoryMb: envField("WEFT_STEM_MEMORY_MB", intFromEnv(256, 64, 8192),
    "memory of a stem cell; gVisor cannot resize a running container, so its stem cells serve only functions of this size"),
  execPoolSize: envField("WEFT_EXEC_POOL_SIZE", intFromEnv(1, 0, 32),
    "pre-started sandboxes for ad-hoc code (POST /v1/execute) per runtime × isolation; each serves one run, then a replacement starts"),
  execRuntimes: envField("WEFT_EXEC_RUNTIMES", runtimeList(NEWEST_RUNTIMES), "runtimes this agent runs ad-hoc code in (names or aliases)"),
  execIsolations: envField("WEFT_EXEC_ISOLATIONS", listOf(ISOLATIONS, "runc,gvisor"), "isolations this agent runs ad-hoc code in"),
  execMemoryMb: envField("WEFT_EXEC_MEMORY_MB", intFromEnv(256, 64, 8192),
    "memory of an ad-hoc sandbox; another size asked for is a resize on runc and a container start on gVisor"),
  execSlots: envField("WEFT_EXEC_SLOTS", intFromEnv(8, 1, 1000), "ad-hoc runs this agent takes at once (past it: RESOURCE_EXHAUSTED)"),
  imagePython311: envField("WEFT_IMAGE_PYTHON3_11", stringFromEnv(RUNTIME_IMAGES["python3.11"]), "python3.11 runtime image"),
  imagePython313: envField("WEFT_IMAGE_PYTHON3_13", stringFromEnv(RUNTIME_IMAGES["python3.13"]), "python3.13 runtime image"),
  imageNodejs18: envField("WEFT_IMAGE_NODEJS18", stringFromEnv(RUNTIME_IMAGES.nodejs18), "nodejs18 runtime image"),
  imageNodejs20: envField("WEFT_IMAGE_NODEJS20", stringFromEnv(RUNTIME_IMAGES.nodejs20), "nodejs20 (and typescript) runtime image"),
  imageRust: envField("WEFT_IMAGE_RUST", stringFromEnv(RUNTIME_IMAGES.rust), "rust runtime image (the runner; a function's compiled binary is mounted into it)"),
  buildImages: envField("WEFT_BUILD_IMAGES", boolFromEnv(true), "build the runtime images at start when missing or stale"),
  baseImage: envField("WEFT_BASE_IMAGE", stringFromEnv(DEFAULT_BASE_IMAGE), "Debian 12 base of python3.11 and nodejs18"),
  baseImageTrixie: envField("WEFT_BASE_IMAGE_TRIXIE", stringFromEnv(DEFAULT_TRIXIE_BASE_IMAGE), "Debian 13 base of python3.13 and nodejs20"),
  dockerSocket: envField("WEFT_DOCKER_SOCKET", stringFromEnv("/var/run/docker.sock"), "Docker engine socket"),
  containerCpuShares: envField("WEFT_CONTAINER_CPU_SHARES", intFromEnv(256, 2, 262_144),
    "CPU weight of a function container (a process's is 1024): under contention the agent, gateway and NATS come first"),
  runnerChannel: envField("WEFT_RUNNER_CHANNEL", z.enum(["auto", "socket", "attach"]).default("auto"),
    "how the agent talks to a container's runner: socket (a Unix socket under /run/weft/channels, bind-mounted: needs root and the engine on this host), attach (stdin and stdout through dockerd); auto = socket when root"),
  dockerTimeoutMs: envField("WEFT_DOCKER_TIMEOUT_MS", intFromEnv(60_000, 1000),
    "a Docker call (create, start, remove, ...) not answered within this is abandoned and the job handed back"),
  defaultCpus: envField("WEFT_DEFAULT_CPUS", z.coerce.number().min(0.05).max(64).default(1),
    "CPUs a function gets when its limits.cpus is unset (and what stem cells start with)"),
  pidsLimit: envField("WEFT_PIDS_LIMIT", intFromEnv(128, 64, 65_536),
    "processes and threads per container (gVisor's own threads count: it does not start below ~64)"),
  nofileLimit: envField("WEFT_NOFILE_LIMIT", intFromEnv(1024, 64, 1_048_576), "open files per container"),
  seccompProfile: envField("WEFT_SECCOMP_PROFILE", stringFromEnv(DEFAULT_SECCOMP_PROFILE),
    "Docker seccomp profile (JSON file) every function container runs under, on runc and gVisor"),
  tmpfsMb: envField("WEFT_TMPFS_MB", intFromEnv(64, 1, 65_536), "size of the writable /tmp (counts against the container's memory)"),
  heartbeatMs: envField("WEFT_HEARTBEAT_MS", intFromEnv(2000, 100), "AgentStatus announcement interval"),
  runningRecordAfterMs: envField("WEFT_RUNNING_RECORD_AFTER_MS", intFromEnv(1000, 0), "an invocation whose handler has run this long gets a running record (one still waiting for a container stays queued)"),
  recordLingerMs: envField("WEFT_RECORD_LINGER_MS", intFromEnv(20, 0, 1000),
    "a finished invocation's record waits at most this long for others to share its message (its job is acked once stored; the reply does not wait)"),
  containerStartTimeoutMs: envField("WEFT_CONTAINER_START_TIMEOUT_MS", intFromEnv(30_000, 1000), "a container not ready after this is a platform failure"),
  retryDelayMs: envField("WEFT_JOB_RETRY_DELAY_MS", intFromEnv(2000, 0), "delay before a job that failed for a platform reason is redelivered"),
  outboxDir: envField("WEFT_AGENT_OUTBOX_DIR", stringFromEnv(""),
    "where records JetStream did not store wait, fsynced, until it does (default: $WEFT_STATE_DIR/outbox, else ~/.weft/outbox)"),
  ...buildDirField,
  drainTimeoutMs: envField("WEFT_DRAIN_TIMEOUT_MS", intFromEnv(30_000, 0), "on stop, in-flight invocations get this long before they are handed back"),
};

export type AgentConfig = ConfigOf<typeof agentFields>;

export function loadAgentConfig(env: NodeJS.ProcessEnv): AgentConfig {
  const parsed = parseEnv(agentFields, env);
  const outboxDir = parsed.outboxDir || join(env.WEFT_STATE_DIR || join(homedir(), ".weft"), "outbox");
  const config = Object.freeze({ ...parsed, outboxDir, buildDir: resolveBuildDir(parsed.buildDir, env, homedir()) });
  const images = Object.values(runtimeImages(config));
  if (new Set(images).size !== images.length) {
    throw new ConfigError("invalid configuration:\n  WEFT_IMAGE_PYTHON3_11, WEFT_IMAGE_PYTHON3_13, WEFT_IMAGE_NODEJS18, WEFT_IMAGE_NODEJS20 and WEFT_IMAGE_RUST must differ");
  }
  return config;
}

/** The image of each runtime, as configured. */
export function runtimeImages(config: AgentConfig): Record<ImageRuntime, string> {
  return {
    "python3.11": config.imagePython311,
    "python3.13": config.imagePython313,
    nodejs18: config.imageNodejs18,
    nodejs20: config.imageNodejs20,
    rust: config.imageRust,
  };
}
