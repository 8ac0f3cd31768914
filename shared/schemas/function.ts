// Wire shapes of a function: what a user sends (FunctionSpec) and what Weft stores (FunctionDefinition).
// HTTP, gRPC, the controller API and the KV bucket all use these schemas.
import { z } from "zod";
import { LIMITS } from "../limits.js";
import { RUNTIMES, RUNTIME_NAMES, storedRuntime, type Runtime } from "../runtimes.js";

export { RUNTIMES, RUNTIME_NAMES } from "../runtimes.js";

export const FUNCTION_NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Names the platform sets itself in the container; a user may not override them. */
const RESERVED_ENV_PREFIXES = ["WEFT_", "NODE_OPTIONS", "PYTHONPATH", "PYTHONHOME", "LD_"];

/** What a client names: an exact runtime or a moving alias (python3, nodejs), resolved at deploy. */
export const RuntimeName = z.enum(RUNTIME_NAMES);
/** What a version records: the exact runtime it was built for (see shared/runtimes.ts). */
export const StoredRuntime = z.preprocess(storedRuntime, z.enum(RUNTIMES));
export const ISOLATIONS = ["runc", "gvisor"] as const;

export const FunctionName = z
  .string()
  .regex(FUNCTION_NAME_PATTERN, "must match [a-z][a-z0-9-]{0,62}");

/**
 * One life of a function name: minted at its first PUT and again at the first PUT after each DELETE. Versions,
 * warm containers, cached definitions, jobs and records all belong to one incarnation, so nothing of a deleted
 * function can serve or be read through a function created again under its name.
 */
export const INCARNATION_PATTERN = /^[0-9a-f]{16}$/;
export const Incarnation = z.string().regex(INCARNATION_PATTERN, "must be 16 hex digits");

/**
 * A string limited in UTF-8 bytes, the size it has on the wire and in storage. zod's .max() counts UTF-16 units,
 * which lets up to three times as many bytes through; it stays as a cheap first check (bytes ≥ units always),
 * and it gives the JSON Schema its maxLength.
 */
const utf8String = (maxBytes: number) => {
  const message = `must be at most ${maxBytes} bytes of UTF-8`;
  return z
    .string()
    .max(maxBytes, message)
    .superRefine((s, ctx) => {
      if (s.length * 3 > maxBytes && Buffer.byteLength(s) > maxBytes) {
        ctx.addIssue({ code: "too_big", origin: "string", maximum: maxBytes, inclusive: true, input: s, message });
      }
    });
};

const integerIn = (range: { min: number; max: number }) => z.number().int().min(range.min).max(range.max);

export const Limits = z.strictObject({
  timeoutMs: integerIn(LIMITS.timeoutMs).default(LIMITS.timeoutMs.default),
  memoryMb: integerIn(LIMITS.memoryMb).default(LIMITS.memoryMb.default),
  cpus: z.number().min(LIMITS.cpus.min).max(LIMITS.cpus.max).optional(),
});
export type Limits = z.infer<typeof Limits>;

const EnvVars = z
  .record(
    z.string().regex(ENV_NAME_PATTERN, "environment variable names must match [A-Za-z_][A-Za-z0-9_]*"),
    utf8String(LIMITS.envVars.valueBytes),
  )
  .refine((env) => Object.keys(env).length <= LIMITS.envVars.max, `at most ${LIMITS.envVars.max} variables`)
  .refine(
    (env) => !Object.keys(env).some((k) => RESERVED_ENV_PREFIXES.some((p) => k.startsWith(p))),
    `names starting with ${RESERVED_ENV_PREFIXES.join(", ")} are reserved`,
  );

/**
 * Where an async invocation's record goes once it ends (README "Async semantics"): a NATS subject the record is
 * published to, or a function invoked async with the record as its event. Weft's own subjects (`weft.`), inboxes
 * and the server's (`$…`, which the token pattern excludes) are refused, so a destination cannot bypass the chain-depth check or forge internals.
 */
export const Destination = z.union([
  z.strictObject({
    subject: z
      .string()
      .max(255)
      .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "must be a NATS subject of tokens [A-Za-z0-9_-] (no wildcards)")
      .refine((s) => !/^(weft|_INBOX)(\.|$)/i.test(s), "must not be one of Weft's subjects (weft.…) or an inbox (_INBOX.…)"),
  }),
  z.strictObject({ function: FunctionName }),
]);
export type Destination = z.infer<typeof Destination>;

/** Retry policy and destinations of async invocations; the defaults are Lambda's. */
export const AsyncConfig = z.strictObject({
  maxRetries: integerIn(LIMITS.asyncRetries).default(LIMITS.asyncRetries.default),
  maxEventAgeMs: integerIn(LIMITS.eventAgeMs).default(LIMITS.eventAgeMs.default),
  onSuccess: Destination.optional(),
  onFailure: Destination.optional(),
});
export type AsyncConfig = z.infer<typeof AsyncConfig>;
export const DEFAULT_ASYNC: AsyncConfig = { maxRetries: LIMITS.asyncRetries.default, maxEventAgeMs: LIMITS.eventAgeMs.default };

/** A bundle's file: UTF-8 text, or bytes as `{"base64": "..."}`. Paths and sizes are checked in shared/bundle.ts. */
export const BundleFile = z.union([z.string(), z.strictObject({ base64: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64") })]);
export type BundleFile = z.infer<typeof BundleFile>;

/** `module.function` as Lambda writes it: `app.handler` is app.py's (or app.js's) `handler`; `lib/app.handler` a file in a folder. */
export const HANDLER_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_-]*(\/[A-Za-z0-9_][A-Za-z0-9_-]*)*\.[A-Za-z_$][A-Za-z0-9_$]*$/;
export const Handler = z.string().max(256).regex(HANDLER_PATTERN, "must be module.function, e.g. app.handler or lib/app.handler");
export const DEFAULT_HANDLER = "handler.handler";

export const BUILD_STATUSES = ["building", "ready", "failed"] as const;

/**
 * A bundle's build: its files laid out once per version (content-addressed by `bundleSha256`) and its
 * dependencies installed once per dependency set (`layer`, content-addressed by the dependency files).
 */
export const Build = z.strictObject({
  status: z.enum(BUILD_STATUSES),
  bundleSha256: z.string(),
  /** The dependency layer every container of the version mounts; absent when the bundle has no dependency files. */
  layer: z.string().optional(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  durationMs: z.number().int().min(0).optional(),
  /** The layer already existed (another version with the same dependency files built it). */
  cached: z.boolean().optional(),
  layerBytes: z.number().int().min(0).optional(),
  /** A failed build: why, with the tail of its log (the whole log: GET /v1/functions/{name}/versions/{v}/build). */
  error: z.string().optional(),
});
export type Build = z.infer<typeof Build>;

/** The body of PUT /v1/functions/{name} (and gRPC PutFunction). */
export const FunctionSpec = z.strictObject({
  name: FunctionName.optional(),
  runtime: RuntimeName,
  /** One file that defines `handler`; with `files`, the entry module's source (optional then). */
  code: utf8String(LIMITS.codeBytes).min(1, "must not be empty").optional(),
  /** A bundle: path → content. requirements.txt, package.json + package-lock.json are installed once per version. */
  files: z.record(z.string(), BundleFile).optional(),
  handler: Handler.optional(),
  limits: Limits.default({ timeoutMs: LIMITS.timeoutMs.default, memoryMb: LIMITS.memoryMb.default }),
  isolation: z.enum(ISOLATIONS).default("runc"),
  env: EnvVars.default({}),
  concurrency: integerIn(LIMITS.concurrency).default(LIMITS.concurrency.default),
  minWarm: integerIn(LIMITS.minWarm).default(LIMITS.minWarm.default),
  description: z.string().max(1024).optional(),
  /** Unset: the defaults (DEFAULT_ASYNC); a definition stored before async existed has none either. */
  async: AsyncConfig.optional(),
});
export type FunctionSpecInput = z.input<typeof FunctionSpec>;
export type FunctionSpec = z.infer<typeof FunctionSpec>;
/** A spec as the controller stores it: its runtime resolved to the exact one, its code compiled if it must be. */
export type DeployedSpec = Omit<FunctionSpec, "runtime"> & { runtime: Runtime; compiled?: string };

/** One immutable version, as stored in MongoDB and in the functions bucket. */
export const FunctionDefinition = FunctionSpec.omit({ name: true }).extend({
  name: FunctionName,
  runtime: StoredRuntime,
  /** The entry module's source (a bundle's too, so every reader of a version sees its handler's code). */
  code: utf8String(LIMITS.codeBytes),
  build: Build.optional(),
  incarnation: Incarnation,
  /** Numbered from 1 within the incarnation. */
  version: z.number().int().min(1),
  codeSha256: z.string(),
  createdAt: z.string(),
});
export type FunctionDefinition = z.infer<typeof FunctionDefinition>;

/**
 * A version as the controller stores and publishes it in the functions bucket (what agents read): the definition
 * and, for code transpiled at deploy (typescript), the JavaScript the agent loads, with an inline source map.
 * API answers carry the user's code only.
 */
export const StoredDefinition = FunctionDefinition.extend({ compiled: z.string().optional() });
export type StoredDefinition = z.infer<typeof StoredDefinition>;

/** What list and put answers carry: everything but the code itself (and what was compiled from it; a bundle's file count instead of its files). */
export type FunctionSummary = Omit<FunctionDefinition, "code" | "files"> & { codeBytes: number; fileCount?: number | undefined };
/** The schema of FunctionSummary (the API's responses are validated against it in tests). */
export const FunctionSummary = FunctionDefinition.omit({ code: true, files: true }).extend({
  codeBytes: z.number().int().min(0),
  fileCount: z.number().int().min(0).optional(),
});

export function summarize(def: StoredDefinition): FunctionSummary {
  const { code, compiled: _compiled, files, ...rest } = def;
  return { ...rest, codeBytes: Buffer.byteLength(code), ...(files ? { fileCount: Object.keys(files).length } : {}) };
}
