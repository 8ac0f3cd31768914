// Every NATS subject, stream, consumer, bucket and queue group Weft uses, in one place.
// README "NATS subjects, streams and consumers" documents the same table for users.
import { runtimeToken } from "./runtimes.js";

/** Users publish or request here (core NATS); gateways listen in a queue group. */
export const INVOKE_SUBJECT_PREFIX = "weft.invoke";
export const invokeSubject = (fn: string): string => `${INVOKE_SUBJECT_PREFIX}.${fn}`;
export const INVOKE_WILDCARD = `${INVOKE_SUBJECT_PREFIX}.*`;
export const GATEWAY_QUEUE = "weft-gateways";

/** Work queue of invocations: the gateway publishes, agents pull. */
export const JOBS_STREAM = "WEFT_JOBS";
export const JOBS_SUBJECT_PREFIX = "weft.jobs";
export const jobSubject = (fn: string): string => `${JOBS_SUBJECT_PREFIX}.${fn}`;
export const JOBS_CONSUMER = "weft-agents";

/**
 * The direct sync path (WEFT_SYNC_PATH=direct): a gateway requests a synchronous call here (core NATS, nothing
 * stored); one agent of the queue group runs it and answers, or hands it back to be queued on WEFT_JOBS.
 */
export const DIRECT_SUBJECT_PREFIX = "weft.direct";
export const directSubject = (fn: string): string => `${DIRECT_SUBJECT_PREFIX}.${fn}`;
export const DIRECT_WILDCARD = `${DIRECT_SUBJECT_PREFIX}.*`;
export const DIRECT_AGENTS_QUEUE = "weft-agents-direct";
/**
 * One agent's own direct subject for a function, weft.direct.{fn}.{agent id}: a gateway sends a function's direct
 * calls to the agent that is its home (gateway/direct-affinity.ts), so they find its warm containers there.
 */
export const agentDirectSubject = (fn: string, agentId: string): string => `${DIRECT_SUBJECT_PREFIX}.${fn}.${agentId}`;
export const agentDirectWildcard = (agentId: string): string => `${DIRECT_SUBJECT_PREFIX}.*.${agentId}`;
/**
 * Whether an agent id can end a subject: what WEFT_AGENT_ID allows (at most 128 of letters, digits, `_`, `-` and
 * `.`), with no empty part between dots. A heartbeat is untrusted input: an id past this (10 KiB, say) would make the
 * gateway's publish a protocol line the server refuses by closing the gateway's connection.
 */
export const isSubjectTail = (id: string): boolean => id.length <= 128 && /^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/.test(id);
/** The function a direct call's subject names (weft.direct.{fn} or weft.direct.{fn}.{agent id}). */
export function functionOfDirectSubject(subject: string): string {
  const rest = subject.slice(DIRECT_SUBJECT_PREFIX.length + 1);
  const dot = rest.indexOf(".");
  return dot < 0 ? rest : rest.slice(0, dot);
}

/** Invocation records: gateway (queued) and agents (running, final) publish, the controller writes them to MongoDB. */
export const RECORDS_STREAM = "WEFT_RECORDS";
export const RECORDS_SUBJECT_PREFIX = "weft.records";
export const recordSubject = (fn: string): string => `${RECORDS_SUBJECT_PREFIX}.${fn}`;
/** An agent's batch of records (a JSON array of RecordEvent); `_batch` is not a valid function name, so it names none. */
export const RECORD_BATCH_SUBJECT = `${RECORDS_SUBJECT_PREFIX}._batch`;
export const RECORDS_CONSUMER = "weft-controller";

/**
 * JetStream's advisory for a job whose deliveries are exhausted (every agent holding it died or stalled):
 * captured in a stream of its own so it survives a controller that is down when it is published, and ended
 * by the controller (controller/job-reaper.ts).
 */
export const JOB_ADVISORIES_STREAM = "WEFT_JOB_ADVISORIES";
export const JOB_ADVISORIES_SUBJECT = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${JOBS_STREAM}.${JOBS_CONSUMER}`;
export const JOB_ADVISORIES_CONSUMER = "weft-controller-reaper";

/**
 * Async retries waiting for their time (README "Async semantics"): an agent publishes the next attempt here, the
 * controller's retry scheduler holds it with a delayed nak and moves it to WEFT_JOBS when it is due.
 */
export const RETRIES_STREAM = "WEFT_RETRIES";
export const RETRIES_SUBJECT_PREFIX = "weft.retries";
export const retrySubject = (fn: string): string => `${RETRIES_SUBJECT_PREFIX}.${fn}`;
export const RETRIES_CONSUMER = "weft-controller-retries";

/** Dead letters: one message per failed or expired async invocation, subject weft.dead.{function}.{invocation id}. */
export const DEAD_LETTERS_STREAM = "WEFT_DEAD_LETTERS";
export const DEAD_LETTERS_SUBJECT_PREFIX = "weft.dead";
export const deadLetterSubject = (fn: string, invocationId: string): string => `${DEAD_LETTERS_SUBJECT_PREFIX}.${fn}.${invocationId}`;
export const deadLettersOf = (fn: string): string => `${DEAD_LETTERS_SUBJECT_PREFIX}.${fn}.*`;

/** Function definitions: the controller writes, gateways and agents read and watch. */
export const FUNCTIONS_BUCKET = "weft-functions";
/** Key of the latest definition (deleted when the function is). */
export const latestKey = (fn: string): string => fn;
/** Key of one immutable version of one incarnation (version numbers restart at 1 in each incarnation). */
export const versionKey = (fn: string, incarnation: string, version: number): string => `${fn}.${incarnation}.v${version}`;

/** The parts of a version key; undefined for a latest key or a key of another (older) shape. */
export function parseVersionKey(key: string): { name: string; incarnation: string; version: number } | undefined {
  const m = /^([^.]+)\.([^.]+)\.v(\d+)$/.exec(key);
  return m ? { name: m[1]!, incarnation: m[2]!, version: Number(m[3]) } : undefined;
}

/** Controller API: request-reply, one subject per operation. */
export const CONTROLLER_PREFIX = "weft.ctl";
export const CONTROLLER_QUEUE = "weft-controllers";
export const controllerSubject = (op: ControllerOp): string => `${CONTROLLER_PREFIX}.${op}`;
export type ControllerOp =
  | "functions.put"
  | "functions.get"
  | "functions.list"
  | "functions.delete"
  | "functions.metrics"
  | "invocations.get"
  | "invocations.list"
  | "aliases.put"
  | "aliases.get"
  | "aliases.list"
  | "aliases.delete"
  | "versions.delete"
  | "invocations.query"
  | "functions.versions"
  | "functions.build"
  | "metrics.series"
  | "health";

/** Agents announce themselves every few seconds and answer pings. */
export const AGENT_HEARTBEAT_SUBJECT = "weft.agents.heartbeat";
export const AGENT_PING_SUBJECT = "weft.agents.ping";

/** `npm run up` announces the programs it supervises (restarts, crash loops); gateways show them in /healthz. */
export const SUPERVISOR_STATUS_SUBJECT = "weft.supervisor.status";

/** Ad-hoc execution: users request weft.execute (gateways answer); gateways request an agent's pool on the job subject. */
export const EXECUTE_SUBJECT = "weft.execute";
export const EXECUTE_JOBS_PREFIX = "weft.execute.jobs";
/** The runtime is one token (python3.13 → python3_13), so the subject stays prefix.runtime.isolation. */
export const executeJobSubject = (runtime: string, isolation: string): string => `${EXECUTE_JOBS_PREFIX}.${runtimeToken(runtime)}.${isolation}`;
export const EXECUTE_AGENTS_QUEUE = "weft-agents-execute";

/**
 * Idempotency keys (README "Idempotency keys"): `{function}.{sha256 of the key}` → the first call's invocation id and
 * the hash of its event, claimed with a create (atomic) before the job is published; entries expire after 24 h.
 */
export const IDEMPOTENCY_BUCKET = "weft-idempotency";
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;

/** Triggers (README "Triggers"): key `{id}` = the stored trigger; every gateway watches the bucket and runs them. */
export const TRIGGERS_BUCKET = "weft-triggers";
/** A trigger's counters (delivered, failed), one key per trigger, added to by every gateway with compare-and-set. */
export const TRIGGER_STATS_BUCKET = "weft-trigger-stats";
/** A subject trigger's queue group: each message goes to one gateway, so it runs once per trigger. */
export const triggerQueue = (id: string): string => `weft-trigger-${id}`;
/** A stream trigger's durable consumer on the user's stream (shared by every gateway). */
export const triggerConsumer = (id: string): string => `weft-trigger-${id}`;
/** The priority group of a perSubject stream trigger's consumer: its messages go to one gateway at a time (pinned). */
export const TRIGGER_PINNED_GROUP = "weft";

/**
 * Subjects only Weft and NATS itself publish on: a stream trigger on a stream capturing any of them would feed
 * Weft's jobs, records, KV buckets or replies to a user's function (gateway/triggers-service.ts).
 */
export const INTERNAL_SUBJECTS = ["weft.>", "$KV.>", "$O.>", "$JS.>", "$SYS.>", "_INBOX.>"] as const;

/** Whether some subject matches both patterns (NATS wildcards: * one token, > one or more tokens, last). */
export function subjectsOverlap(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const s = x[i];
    const t = y[i];
    if (s === undefined || t === undefined) return false;
    if (s === ">" || t === ">") return true;
    if (s !== "*" && t !== "*" && s !== t) return false;
  }
  return true;
}
