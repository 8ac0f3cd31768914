// Connecting to NATS and declaring the streams, consumers and bucket Weft needs (idempotently, by every component).
import { connect, errors, type NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstreamManager,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { Logger } from "pino";
import { LIMITS } from "./limits.js";
import { ensureEventBuckets } from "./event-buckets.js";
import {
  FUNCTIONS_BUCKET,
  JOB_ADVISORIES_CONSUMER,
  JOB_ADVISORIES_STREAM,
  JOB_ADVISORIES_SUBJECT,
  JOBS_CONSUMER,
  JOBS_STREAM,
  JOBS_SUBJECT_PREFIX,
  DEAD_LETTERS_STREAM,
  DEAD_LETTERS_SUBJECT_PREFIX,
  RETRIES_CONSUMER,
  RETRIES_STREAM,
  RETRIES_SUBJECT_PREFIX,
  RECORDS_CONSUMER,
  RECORDS_STREAM,
  RECORDS_SUBJECT_PREFIX,
} from "./subjects.js";

const SECOND_NS = 1_000_000_000;

/** Tuning of the JetStream objects; part of each component's configuration. */
export interface TopologyOptions {
  /** Longest a job may wait in the queue before it expires (Lambda's maximum event age). */
  jobMaxAgeMs: number;
  /** Redeliveries of a job whose agent vanished before this many attempts are given up (dead-lettered as killed). */
  jobMaxDeliver: number;
  /** An agent that neither acks nor reports progress within this is presumed dead; the job is redelivered. */
  jobAckWaitMs: number;
  /** Records wait this long for the controller (e.g. through a MongoDB outage) before they expire. */
  recordMaxAgeMs: number;
  /** Past this the stream refuses new records (publishers hold and retry them); it never drops stored ones. */
  recordMaxBytes: number;
  /** Copies of every stream, consumer and bucket in a NATS cluster (1 on a single server, 3 on a cluster of 3). */
  replicas: number;
}

export const DEFAULT_TOPOLOGY: TopologyOptions = {
  jobMaxAgeMs: 6 * 3600_000,
  jobMaxDeliver: 3,
  jobAckWaitMs: 30_000,
  recordMaxAgeMs: 7 * 24 * 3600_000,
  recordMaxBytes: 16 * 1024 ** 3,
  replicas: 1,
};

/**
 * The records consumer's ack wait: what a controller that died held is redelivered this soon, so records land
 * within seconds of a restart. A live controller keeps a slow write's messages alive with +WPI.
 */
export const RECORDS_ACK_WAIT_MS = 4000;

export async function connectNats(servers: string, name: string, log: Logger): Promise<NatsConnection> {
  const nc = await connect({
    servers: servers.split(","),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
    timeout: 5000,
    // No stack captured per request (two Error objects each, a measurable share of a warm call's CPU at the gateway
    // and of every pull at the agent): a failed request still says what failed, only not from which await.
    noAsyncTraces: true,
  });
  const tooSmall = maxPayloadShortfall(nc);
  if (tooSmall) {
    await nc.close();
    throw new Error(tooSmall);
  }
  watchConnection(nc, log);
  return nc;
}

/**
 * Why the connected server cannot carry Weft's messages (events and outputs up to 6 MiB with their headers,
 * function definitions up to 8 MiB), or undefined if it can. A stock nats-server allows 1 MiB: with it, big events
 * would fail as UNAVAILABLE and big outputs could never be delivered, so a component refuses to start instead.
 */
export function maxPayloadShortfall(nc: NatsConnection): string | undefined {
  const max = nc.info?.max_payload;
  if (max === undefined || max >= LIMITS.natsMaxPayloadBytes) return undefined;
  return (
    `WEFT_NATS_URL: the NATS server at ${nc.getServer()} allows messages of at most ${max} bytes (max_payload); ` +
    `Weft needs at least ${LIMITS.natsMaxPayloadBytes} (set max_payload: 8MB in the server's configuration)`
  );
}

function watchConnection(nc: NatsConnection, log: Logger): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnect" || s.type === "error") {
        log.warn({ nats: s.type, server: "server" in s ? s.server : undefined }, `nats ${s.type}`);
      }
      // A cluster member with a smaller limit cannot be refused after start; say so loudly.
      const tooSmall = s.type === "reconnect" ? maxPayloadShortfall(nc) : undefined;
      if (tooSmall) log.error(tooSmall);
    }
  })();
}

export function jobsStreamConfig(t: TopologyOptions): Partial<StreamConfig> & { name: string } {
  return {
    name: JOBS_STREAM,
    subjects: [`${JOBS_SUBJECT_PREFIX}.>`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_age: t.jobMaxAgeMs * 1_000_000,
    max_msgs: 1_000_000,
    max_msg_size: LIMITS.natsMaxPayloadBytes,
    duplicate_window: 120 * SECOND_NS,
    num_replicas: t.replicas,
  };
}

export function recordsStreamConfig(t: TopologyOptions): Partial<StreamConfig> & { name: string } {
  return {
    name: RECORDS_STREAM,
    subjects: [`${RECORDS_SUBJECT_PREFIX}.>`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    // Limits by age: a full stream refuses new records rather than dropping stored ones (finals included).
    discard: DiscardPolicy.New,
    max_age: t.recordMaxAgeMs * 1_000_000,
    max_bytes: t.recordMaxBytes,
    max_msg_size: LIMITS.natsMaxPayloadBytes,
    duplicate_window: 120 * SECOND_NS,
    num_replicas: t.replicas,
  };
}

export function jobsConsumerConfig(t: TopologyOptions): Partial<ConsumerConfig> {
  return {
    durable_name: JOBS_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: t.jobAckWaitMs * 1_000_000,
    max_deliver: t.jobMaxDeliver,
    // The server default (1000) silently stops delivery once reached; Weft bounds work by agent slots instead.
    max_ack_pending: 100_000,
    max_waiting: 512,
  };
}

export function recordsConsumerConfig(): Partial<ConsumerConfig> {
  return {
    durable_name: RECORDS_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: RECORDS_ACK_WAIT_MS * 1_000_000,
    // Records are retried for as long as MongoDB is away; they are never dropped for being retried.
    max_deliver: -1,
    max_ack_pending: 100_000,
  };
}

const STREAM_NAME_IN_USE = 10058;
const CONSUMER_NAME_EXISTS = 10148;

async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    try {
      await jsm.streams.add(cfg);
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== STREAM_NAME_IN_USE) throw err;
      await jsm.streams.update(cfg.name, cfg);
    }
  } catch (err) {
    // A single server refuses replicas > 1, and a cluster refuses more replicas than it has nodes.
    if ((cfg.num_replicas ?? 1) <= 1) throw err;
    throw new Error(`declaring stream ${cfg.name} with ${cfg.num_replicas} replicas (WEFT_STREAM_REPLICAS) failed: ${(err as Error).message}`, { cause: err });
  }
}

async function ensureConsumer(jsm: JetStreamManager, stream: string, cfg: Partial<ConsumerConfig>): Promise<void> {
  try {
    await jsm.consumers.add(stream, cfg);
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== CONSUMER_NAME_EXISTS) throw err;
    await jsm.consumers.update(stream, cfg.durable_name!, cfg);
  }
}

/** What agents decide by: the jobs consumer's settings as the server has them. */
export interface JobSettings {
  ackWaitMs: number;
  maxDeliver: number;
}

/** Reads the jobs consumer's settings from the server (the controller owns them). */
export async function readJobSettings(nc: NatsConnection): Promise<JobSettings> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.consumers.info(JOBS_STREAM, JOBS_CONSUMER);
  return { ackWaitMs: Math.round((info.config.ack_wait ?? 30_000_000_000) / 1_000_000), maxDeliver: info.config.max_deliver ?? -1 };
}

/** How long a component's start-up keeps asking a JetStream that does not answer yet (a cluster electing leaders). */
export const JETSTREAM_SETTLE_MS = 60_000;

/**
 * A JetStream API failure that passes by itself: no answer in time, no responder, or JetStream saying it is not
 * available yet. On a cluster that is the time after a start or a node's loss while streams elect their leaders.
 */
export function jetStreamSettling(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.code === JS_CLUSTER_NOT_AVAILABLE;
  const e = err as { name?: string; message?: string; cause?: unknown } | undefined;
  // A JetStream publish (a KV put or create) that found no responder, as a stream without a leader answers while a
  // cluster elects one, comes from nats.js as JetStreamNotEnabled caused by a RequestError caused by NoRespondersError.
  for (let c = e?.cause as { cause?: unknown } | undefined; c; c = c.cause as typeof c) if (c instanceof errors.NoRespondersError) return true;
  return e?.name === "TimeoutError" || e?.name === "NoRespondersError" || /\b(timeout|no responders)\b/i.test(String(e?.message ?? ""));
}
/** "JetStream system temporarily unavailable" */
const JS_CLUSTER_NOT_AVAILABLE = 10008;

/**
 * Opening a bucket that exists (another component declared it) can still be refused while a cluster settles: a
 * node whose view of the streams lags answers "not found", and the client then tries to create the bucket with
 * its own options, which the server refuses as "already in use with a different configuration".
 */
export function bucketSettling(err: unknown): boolean {
  return jetStreamSettling(err) || (err instanceof JetStreamApiError && err.code === JS_STREAM_NAME_IN_USE);
}
/** "stream name already in use with a different configuration" */
const JS_STREAM_NAME_IN_USE = 10058;

/** Runs a start-up step, again while JetStream is settling (see jetStreamSettling), for at most `boundMs`. */
export async function whileJetStreamSettles<T>(
  step: () => Promise<T>,
  what: string,
  log?: Logger,
  settling: (err: unknown) => boolean = jetStreamSettling,
  boundMs = JETSTREAM_SETTLE_MS,
): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (let tries = 1; ; tries++) {
    try {
      return await step();
    } catch (err) {
      if (!settling(err) || Date.now() > deadline) throw err;
      log?.warn({ err: (err as Error).message, tries }, `${what}: JetStream did not answer yet; trying again`);
      await new Promise((r) => setTimeout(r, Math.min(250 * tries, 2000)));
    }
  }
}

/**
 * Waits until the controller has declared the streams and the jobs consumer (a gateway or an agent may
 * start first), then returns the consumer's settings. Logs once while it waits.
 */
export async function awaitTopology(nc: NatsConnection, log: Logger, pollMs = 500): Promise<JobSettings> {
  let logged = false;
  for (;;) {
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.info(RECORDS_STREAM);
      return await readJobSettings(nc);
    } catch (err) {
      const missing = err instanceof JetStreamApiError && (err.code === 10059 || err.code === 10014);
      if (!missing && !jetStreamSettling(err)) throw err;
      if (!logged) log.info("waiting for the controller to declare the JetStream streams and the jobs consumer");
      logged = true;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
}

export function jobAdvisoriesStreamConfig(t: TopologyOptions): Partial<StreamConfig> & { name: string } {
  return {
    name: JOB_ADVISORIES_STREAM,
    subjects: [JOB_ADVISORIES_SUBJECT],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_age: t.jobMaxAgeMs * 1_000_000,
    num_replicas: t.replicas,
  };
}

export function jobAdvisoriesConsumerConfig(): Partial<ConsumerConfig> {
  return {
    durable_name: JOB_ADVISORIES_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: 30 * SECOND_NS,
    max_deliver: -1,
  };
}

/** How long dead letters are kept (README "Dead letters"). */
export const DEAD_LETTER_MAX_AGE_MS = 14 * 24 * 3600_000;
/** Past this the oldest dead letters are dropped: a flood of failures cannot fill the server's disk. */
export const DEAD_LETTER_MAX_BYTES = 8 * 1024 ** 3;

/** Scheduled jobs: a work queue the controller's retry scheduler drains as they fall due (at most 6 h ahead). */
export function retriesStreamConfig(t: TopologyOptions): Partial<StreamConfig> & { name: string } {
  return {
    name: RETRIES_STREAM,
    subjects: [`${RETRIES_SUBJECT_PREFIX}.>`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_age: t.jobMaxAgeMs * 1_000_000,
    max_msg_size: LIMITS.natsMaxPayloadBytes,
    duplicate_window: 120 * SECOND_NS,
    num_replicas: t.replicas,
  };
}

export function retriesConsumerConfig(): Partial<ConsumerConfig> {
  return {
    durable_name: RETRIES_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: 30 * SECOND_NS,
    // A job waits by being handed back (a delayed nak) until it is due: it must never run out of deliveries.
    max_deliver: -1,
    max_ack_pending: 100_000,
  };
}

/** Dead letters: kept for DEAD_LETTER_MAX_AGE_MS, read, re-driven and purged through the gateway's API. */
export function deadLettersStreamConfig(t: TopologyOptions): Partial<StreamConfig> & { name: string } {
  return {
    name: DEAD_LETTERS_STREAM,
    subjects: [`${DEAD_LETTERS_SUBJECT_PREFIX}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: DEAD_LETTER_MAX_AGE_MS * 1_000_000,
    // Listing pages through them with the direct get API (gateway/dead-letters.ts).
    allow_direct: true,
    max_bytes: DEAD_LETTER_MAX_BYTES,
    max_msg_size: LIMITS.natsMaxPayloadBytes,
    duplicate_window: 120 * SECOND_NS,
    num_replicas: t.replicas,
  };
}

/** Declares every stream and consumer: the controller's job alone (or a test's, standing in for it). */
export async function ensureTopology(nc: NatsConnection, t: TopologyOptions): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await ensureStream(jsm, jobsStreamConfig(t));
  await ensureStream(jsm, recordsStreamConfig(t));
  await ensureStream(jsm, jobAdvisoriesStreamConfig(t));
  await ensureStream(jsm, retriesStreamConfig(t));
  await ensureStream(jsm, deadLettersStreamConfig(t));
  await ensureConsumer(jsm, JOBS_STREAM, jobsConsumerConfig(t));
  await ensureConsumer(jsm, RECORDS_STREAM, recordsConsumerConfig());
  await ensureConsumer(jsm, JOB_ADVISORIES_STREAM, jobAdvisoriesConsumerConfig());
  await ensureConsumer(jsm, RETRIES_STREAM, retriesConsumerConfig());
  await ensureFunctionsBucket(nc, jsm, t.replicas);
  await ensureEventBuckets(nc, t.replicas);
}

const FUNCTIONS_BUCKET_OPTIONS = { history: 1, storage: StorageType.File, maxValueSize: LIMITS.definitionBytes };

/** Creates the bucket with the topology's replicas, or moves an existing one to them; openFunctionsBucket binds to it. */
async function ensureFunctionsBucket(nc: NatsConnection, jsm: JetStreamManager, replicas: number): Promise<void> {
  const kv = await new Kvm(nc).create(FUNCTIONS_BUCKET, { ...FUNCTIONS_BUCKET_OPTIONS, replicas });
  const { streamInfo } = await kv.status();
  if (streamInfo.config.num_replicas === replicas) return;
  await ensureStream(jsm, { ...streamInfo.config, num_replicas: replicas });
}

export async function openFunctionsBucket(nc: NatsConnection, log?: Logger): Promise<KV> {
  return whileJetStreamSettles(() => new Kvm(nc).create(FUNCTIONS_BUCKET, FUNCTIONS_BUCKET_OPTIONS), "opening the functions bucket", log, bucketSettling);
}

