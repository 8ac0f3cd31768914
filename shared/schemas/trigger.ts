// Wire shapes of a trigger: what invokes a function without a caller (a NATS subject, a JetStream stream, a
// schedule). One schema per shape, used by HTTP, gRPC, the CLI and the store (the weft-triggers bucket).
import { z } from "zod";
import { FunctionName } from "./function.js";
import { AliasName } from "./alias.js";
import { parseSchedule } from "../schedule.js";

/** A trigger's id: the path segment and the bucket key, so it keeps to what both allow. */
export const TriggerId = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, "must match [a-z][a-z0-9-]{0,62}");

/** A subject users publish on: no Weft, JetStream or inbox subjects (a trigger on those would loop or snoop). */
const UserSubject = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[^\s]+$/, "must have no spaces")
  .refine((s) => s.split(".").every((t, i, all) => t.length > 0 && (t !== ">" || i === all.length - 1)), "must be dot-separated tokens, with > only last")
  // A wildcard first token (`>`, `*.x`) would also match Weft's own subjects: every job and record would trigger more.
  .refine((s) => !/^[*>](\.|$)/.test(s), "must start with a literal token, not * or >")
  .refine((s) => !/^(weft|\$[A-Z]+|_INBOX)(\.|$)/.test(s), "must not be a weft.*, $JS/$KV/$SYS.* or _INBOX.* subject");

/**
 * A user's stream: never Weft's own (WEFT_*) nor a KV bucket's or object store's (KV_*, OBJ_*). Those hold every
 * function's definition (code and env secrets), the dead letters and the jobs: a trigger on them would hand all of it
 * to one user's function. The gateway also refuses a stream whose subjects overlap Weft's (triggers-service.ts).
 */
const StreamName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,255}$/, "must be a JetStream stream name")
  .refine((s) => !/^(WEFT_|KV_|OBJ_)/.test(s), "must not be a Weft stream, a KV bucket or an object store (WEFT_*, KV_*, OBJ_*)");

export const DELIVER_POLICIES = ["all", "new", "last", "lastPerSubject"] as const;
/** perSubject: messages of one subject run one at a time, in stream order; different subjects in parallel. */
export const STREAM_ORDERINGS = ["perSubject"] as const;

/** What every kind has: the function, and optionally a version or an alias (default: the latest). */
const Target = {
  function: FunctionName,
  version: z.number().int().min(1).optional(),
  alias: AliasName.optional(),
  description: z.string().max(1024).optional(),
};

export const SubjectTriggerSpec = z.strictObject({ ...Target, subject: UserSubject });
export const StreamTriggerSpec = z.strictObject({
  ...Target,
  stream: StreamName,
  filterSubject: z.string().min(1).max(255).regex(/^[^\s]+$/, "must have no spaces").optional(),
  deliverPolicy: z.enum(DELIVER_POLICIES).optional(),
  maxInFlight: z.number().int().min(1).max(10_000).optional(),
  ordered: z.boolean().optional(),
  ordering: z.enum(STREAM_ORDERINGS).optional(),
});
export const ScheduleTriggerSpec = z.strictObject({
  ...Target,
  schedule: z.string().min(1).max(200).superRefine((s, ctx) => {
    const parsed = parseSchedule(s);
    if (!parsed.ok) ctx.addIssue({ code: "custom", message: parsed.message });
  }),
  timezone: z.string().max(64).refine(isTimeZone, "must be an IANA time zone (Europe/Paris, UTC)").optional(),
  event: z.unknown().optional(),
});

/** The body of PUT /v1/triggers/{id}: exactly one of subject, stream or schedule. */
export const TriggerSpec = z
  .union([SubjectTriggerSpec, StreamTriggerSpec, ScheduleTriggerSpec], {
    error: "must have exactly one of subject, stream or schedule, with that kind's fields only",
  })
  .refine((s) => s.version === undefined || s.alias === undefined, { message: "version and alias cannot both be set", path: ["alias"] })
  .refine((s) => !("ordering" in s && s.ordering !== undefined && s.ordered), { message: "cannot be combined with ordered (one at a time across the whole stream)", path: ["ordering"] });
export type TriggerSpec = z.infer<typeof TriggerSpec>;

export type TriggerKind = "subject" | "stream" | "schedule";
export const kindOf = (s: TriggerSpec): TriggerKind => ("subject" in s ? "subject" : "stream" in s ? "stream" : "schedule");

/** What the store keeps: the spec, its id, the function's incarnation it was bound to, and whether it is paused. */
export const StoredTrigger = z.object({
  id: TriggerId,
  spec: z.record(z.string(), z.unknown()),
  /** The function's incarnation when the trigger was put: a function deleted (and created again) disables it. */
  incarnation: z.string(),
  paused: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type StoredTrigger = z.infer<typeof StoredTrigger>;

export const TRIGGER_STATES = ["active", "paused", "disabled"] as const;

export const TriggerCounters = z.object({
  /** Invocations the trigger started (each stored in WEFT_JOBS). */
  delivered: z.number().int(),
  /** Messages or ticks it could not turn into an invocation (not JSON, over a limit, the function gone). */
  failed: z.number().int(),
  /** Stream: messages not yet taken by the trigger; subject and schedule: 0. */
  lag: z.number().int(),
});
export type TriggerCounters = z.infer<typeof TriggerCounters>;

/** A trigger as the API answers it. */
export const Trigger = z.object({
  id: TriggerId,
  kind: z.enum(["subject", "stream", "schedule"]),
  function: FunctionName,
  version: z.number().int().optional(),
  alias: z.string().optional(),
  description: z.string().optional(),
  subject: z.string().optional(),
  stream: z.string().optional(),
  filterSubject: z.string().optional(),
  deliverPolicy: z.enum(DELIVER_POLICIES).optional(),
  maxInFlight: z.number().int().optional(),
  ordered: z.boolean().optional(),
  ordering: z.enum(STREAM_ORDERINGS).optional(),
  schedule: z.string().optional(),
  timezone: z.string().optional(),
  event: z.unknown().optional(),
  /** active; paused (by the API); disabled: its function was deleted (put the trigger again to bind it to a new one). */
  state: z.enum(TRIGGER_STATES),
  counters: TriggerCounters,
  /** Schedule: the next tick (ISO 8601). */
  nextTick: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Trigger = z.infer<typeof Trigger>;

export const TriggerList = z.object({ triggers: z.array(Trigger) });
export const DeleteTriggerResult = z.object({ id: TriggerId, deleted: z.literal(true) });

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
