// The KV buckets of idempotency keys and triggers. The controller declares them with the rest of the topology (with
// WEFT_STREAM_REPLICAS); a gateway opens them with the same options, which binds to a bucket that exists already.
import { StorageType } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { IDEMPOTENCY_BUCKET, IDEMPOTENCY_TTL_MS, TRIGGERS_BUCKET, TRIGGER_STATS_BUCKET } from "./subjects.js";

const IDEMPOTENCY_OPTIONS = { history: 1, storage: StorageType.File, ttl: IDEMPOTENCY_TTL_MS, maxValueSize: 4096 };
const TRIGGERS_OPTIONS = { history: 1, storage: StorageType.File, maxValueSize: 1024 * 1024 };
const TRIGGER_STATS_OPTIONS = { history: 1, storage: StorageType.File, maxValueSize: 1024 };

export const openIdempotencyBucket = (nc: NatsConnection, replicas?: number): Promise<KV> =>
  new Kvm(nc).create(IDEMPOTENCY_BUCKET, { ...IDEMPOTENCY_OPTIONS, ...(replicas ? { replicas } : {}) });
export const openTriggersBucket = (nc: NatsConnection, replicas?: number): Promise<KV> =>
  new Kvm(nc).create(TRIGGERS_BUCKET, { ...TRIGGERS_OPTIONS, ...(replicas ? { replicas } : {}) });
export const openTriggerStatsBucket = (nc: NatsConnection, replicas?: number): Promise<KV> =>
  new Kvm(nc).create(TRIGGER_STATS_BUCKET, { ...TRIGGER_STATS_OPTIONS, ...(replicas ? { replicas } : {}) });

/** The controller's declaration: creates the three buckets when missing. */
export async function ensureEventBuckets(nc: NatsConnection, replicas: number): Promise<void> {
  await openIdempotencyBucket(nc, replicas);
  await openTriggersBucket(nc, replicas);
  await openTriggerStatsBucket(nc, replicas);
}
