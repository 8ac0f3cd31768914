// Idempotency keys (README "Idempotency keys"): HTTP `Idempotency-Key`, gRPC `idempotency_key`, NATS `Nats-Msg-Id`.
// The first call with a key claims it in the weft-idempotency bucket with a create (atomic: exactly one caller wins,
// on any gateway) before its job is published; every later call with that key and function, within 24 h, gets the
// first call's invocation id and never publishes again. A sync call gets the stored result, read from its record.
import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { z } from "zod";
import { WeftError, invalid, unavailable } from "../shared/errors.js";
import { jetStreamSettling, whileJetStreamSettles } from "../shared/nats.js";
import type { InvocationRecord, InvocationResult } from "../shared/schemas/invocation.js";

/** A key is any printable ASCII up to this length (Stripe's and the IETF draft's shape). */
export const MAX_KEY_LENGTH = 255;

/** A claim still pending after this was left by a gateway that died before publishing (or before saying it had). */
export const PENDING_STALE_MS = 15_000;
/** How often a call waiting on another's pending claim looks again. */
const PENDING_POLL_MS = 50;

const Claim = z.object({
  invocationId: z.string(),
  eventSha256: z.string(),
  incarnation: z.string(),
  /** pending: claimed, the job not yet confirmed stored; queued: JetStream acknowledged the job. */
  state: z.enum(["pending", "queued"]),
  at: z.number(),
});
type Claim = z.infer<typeof Claim>;

export type ClaimOutcome =
  /** This call owns the key: publish, then call `queued`. */
  | { kind: "claimed"; queued: () => Promise<void> }
  /** Another call owns it and its job is (or may be) stored: answer with its invocation. */
  | { kind: "replay"; invocationId: string }
  /** A claim its gateway abandoned before its job was confirmed: publish again under its id (JetStream de-duplicates). */
  | { kind: "adopt"; invocationId: string; queued: () => Promise<void> };

/** Checks a key from any front door; `field` names it in the error (Idempotency-Key, idempotency_key, Nats-Msg-Id). */
export function idempotencyKey(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string" || value.length > MAX_KEY_LENGTH || !/^[\x20-\x7e]+$/.test(value)) {
    throw invalid(field, `must be 1 to ${MAX_KEY_LENGTH} printable ASCII characters`);
  }
  return value;
}

export class IdempotencyStore {
  constructor(
    private readonly kv: KV,
    private readonly readRecord: (invocationId: string) => Promise<InvocationRecord>,
    /** A claim JetStream did not answer (a cluster's bucket electing its leader) is tried again this long. */
    private readonly settleMs = 0,
  ) {}

  /** Claims `key` for this call, or says whose invocation it already names. */
  async claim(fn: { name: string; incarnation: string }, key: string, invocationId: string, event: Uint8Array): Promise<ClaimOutcome> {
    const entryKey = `${fn.name}.${sha256(key)}`;
    const claim: Claim = { invocationId, eventSha256: sha256(event), incarnation: fn.incarnation, state: "pending", at: Date.now() };
    const created = await this.create(entryKey, claim);
    if (created !== undefined) return { kind: "claimed", queued: () => this.markQueued(entryKey, claim, created) };
    const { value: held, revision } = await this.read(entryKey);
    if (held.incarnation !== fn.incarnation) {
      // The function was deleted and created again: a new function, so the key is new to it.
      const rev = await this.kv.update(entryKey, JSON.stringify(claim), revision).catch((err: unknown) => {
        throw unavailable("the idempotency store (a concurrent call took the key; retry)", err);
      });
      return { kind: "claimed", queued: () => this.markQueued(entryKey, claim, rev) };
    }
    if (held.eventSha256 !== claim.eventSha256) {
      throw new WeftError("IDEMPOTENCY_MISMATCH", `the idempotency key was used for invocation ${held.invocationId} of ${fn.name} with a different event`, undefined, {
        invocationId: held.invocationId,
      });
    }
    if (held.state === "pending") return this.settle(entryKey, held, revision);
    return { kind: "replay", invocationId: held.invocationId };
  }

  /**
   * A claim whose job is not yet confirmed stored: answering with its id now could name an invocation that never
   * exists (its gateway may have died before publishing). So wait until it is confirmed, or, once it is stale, adopt
   * it: publish its job again under its id (JetStream de-duplicates a job that was stored after all).
   */
  private async settle(entryKey: string, held: Claim, revision: number): Promise<ClaimOutcome> {
    for (;;) {
      if (held.state === "queued") return { kind: "replay", invocationId: held.invocationId };
      if (Date.now() - held.at > PENDING_STALE_MS) {
        const adopted: Claim = { ...held, at: Date.now() };
        const rev = await this.kv.update(entryKey, JSON.stringify(adopted), revision).catch(() => undefined);
        if (rev !== undefined) return { kind: "adopt", invocationId: held.invocationId, queued: () => this.markQueued(entryKey, adopted, rev) };
        // Another call adopted it first: wait for that one.
      }
      await new Promise((r) => setTimeout(r, PENDING_POLL_MS));
      ({ value: held, revision } = await this.read(entryKey));
    }
  }

  /**
   * The stored result of an invocation, as the result object a sync caller gets, once its final record is stored;
   * undefined if it has not ended within `waitMs` (the caller then answers "running", as for any long call). A
   * record store that is away (the controller restarting) is waited for like a record not stored yet: the
   * invocation was accepted, so the caller hears "running" at worst, never a 503 that invites another call.
   */
  async storedResult(invocationId: string, waitMs: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    const deadline = Date.now() + waitMs;
    for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
      const record = await this.readRecord(invocationId).catch((err: unknown) => {
        if (err instanceof WeftError && (err.code === "NOT_FOUND" || err.code === "UNAVAILABLE")) return undefined; // not stored yet, or the store is away
        throw err;
      });
      if (record && isFinal(record)) return Buffer.from(JSON.stringify(resultOf(record)));
      if (Date.now() + delay > deadline || signal?.aborted) return undefined;
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** The claim, created; undefined when the key exists already. */
  private async create(key: string, claim: Claim): Promise<number | undefined> {
    try {
      return await whileJetStreamSettles(() => this.createOnce(key, claim), "claiming an idempotency key", undefined, jetStreamSettling, this.settleMs);
    } catch (err) {
      throw unavailable("the idempotency store (NATS KV weft-idempotency)", err);
    }
  }

  private async createOnce(key: string, claim: Claim): Promise<number | undefined> {
    try {
      return await this.kv.create(key, JSON.stringify(claim));
    } catch (err) {
      // Either the key exists (the usual case) or the store is down: reading it tells which.
      const entry = await this.kv.get(key);
      if (!entry || entry.operation !== "PUT") throw err;
      // An earlier try of this very claim that was stored although its answer was lost: the claim is ours.
      const held = Claim.safeParse(entry.json());
      if (held.success && held.data.invocationId === claim.invocationId) return entry.revision;
      return undefined;
    }
  }

  private async read(key: string): Promise<{ value: Claim; revision: number }> {
    const entry = await this.kv.get(key).catch((e: unknown) => {
      throw unavailable("the idempotency store (NATS KV weft-idempotency)", e);
    });
    if (!entry || entry.operation !== "PUT") throw unavailable("the idempotency store (the key vanished while it was read; retry)");
    return { value: Claim.parse(entry.json()), revision: entry.revision };
  }

  /** Best effort: a claim left pending only makes a much later retry publish again under the same id. */
  private async markQueued(key: string, claim: Claim, revision: number): Promise<void> {
    await this.kv.update(key, JSON.stringify({ ...claim, state: "queued" }), revision).catch(() => undefined);
  }
}

const sha256 = (data: string | Uint8Array): string => createHash("sha256").update(data).digest("hex");

const isFinal = (r: InvocationRecord) => r.status !== "queued" && r.status !== "running";

/** The result object of an ended invocation, from its record (output and logs as the record keeps them). */
function resultOf(r: InvocationRecord): InvocationResult {
  return {
    invocationId: r.invocationId,
    functionName: r.functionName,
    version: r.version ?? 0,
    status: r.status as InvocationResult["status"],
    ...(r.output !== undefined ? { output: r.output } : {}),
    ...(r.error !== undefined ? { error: r.error } : {}),
    durationMs: r.durationMs ?? 0,
    coldStart: r.coldStart ?? false,
    logs: r.logs ?? "",
    ...(r.logsTruncated ? { logsTruncated: true } : {}),
    agent: r.agent ?? "",
  };
}
