// The seccomp profile every function container runs under, on runc and on gVisor alike (runsc applies the
// OCI spec's filter inside the sandbox when registered with --oci-seccomp). Read and validated once at start;
// Docker takes the profile's JSON itself in the `seccomp=` security option.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { ConfigError } from "../shared/config.js";

/** Docker's default minus io_uring, user namespaces and mknod; deploy/seccomp/derive.ts writes it. */
export const DEFAULT_SECCOMP_PROFILE = resolve(import.meta.dirname, "../deploy/seccomp/weft.json");

const Action = z.enum([
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_TRAP",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_LOG",
  "SCMP_ACT_NOTIFY",
]);

const Operator = z.enum([
  "SCMP_CMP_NE",
  "SCMP_CMP_LT",
  "SCMP_CMP_LE",
  "SCMP_CMP_EQ",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_MASKED_EQ",
]);

const Condition = z.strictObject({ caps: z.array(z.string()).optional(), arches: z.array(z.string()).optional(), minKernel: z.string().optional() });

const Argument = z.strictObject({
  index: z.number().int().min(0).max(5),
  value: z.number().int().nonnegative(),
  valueTwo: z.number().int().nonnegative().optional(),
  op: Operator,
});

const SyscallRule = z.strictObject({
  names: z.array(z.string().min(1)).min(1),
  action: Action,
  errnoRet: z.number().int().nonnegative().optional(),
  args: z.array(Argument).nullable().optional(),
  comment: z.string().optional(),
  includes: Condition.optional(),
  excludes: Condition.optional(),
});

/**
 * Docker's seccomp profile format (moby/profiles seccomp/default.json), modern keys only. Strict, because
 * Docker silently ignores a key it does not know, and a misspelt rule in a security filter must not pass unseen.
 */
export const SeccompProfile = z.strictObject({
  defaultAction: Action.refine((a) => a !== "SCMP_ACT_ALLOW" && a !== "SCMP_ACT_LOG", "must deny by default (an allow-by-default profile filters nothing)"),
  defaultErrnoRet: z.number().int().nonnegative().optional(),
  archMap: z.array(z.strictObject({ architecture: z.string(), subArchitectures: z.array(z.string()).nullable() })).min(1),
  syscalls: z.array(SyscallRule).min(1),
});
export type SeccompProfile = z.infer<typeof SeccompProfile>;
export type SyscallRule = z.infer<typeof SyscallRule>;

/** Parses a profile's text; a problem names the file and the field. */
export function parseSeccompProfile(text: string, path: string): SeccompProfile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`WEFT_SECCOMP_PROFILE: ${path} is not JSON: ${(err as Error).message}`);
  }
  const parsed = SeccompProfile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`WEFT_SECCOMP_PROFILE: ${path} is not a Docker seccomp profile: ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}

/** The `seccomp=<json>` security option for every container, read from `path` once. */
export function loadSeccompOption(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`WEFT_SECCOMP_PROFILE: cannot read ${path}: ${(err as Error).message}`);
  }
  return `seccomp=${JSON.stringify(parseSeccompProfile(text, path))}`;
}
