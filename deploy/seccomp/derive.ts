// Writes Weft's seccomp profile (weft.json) from Docker's default (docker-default.json, a copy of
// github.com/moby/profiles seccomp/default.json at tag seccomp/v0.2.3, Apache-2.0). To follow a newer Docker,
// replace docker-default.json and run:  node --import tsx deploy/seccomp/derive.ts
// test/unit/seccomp-profile.test.ts checks that weft.json is what this prints and that the holes stay closed.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseSeccompProfile, type SeccompProfile, type SyscallRule } from "../../agents/seccomp.js";

export const DOCKER_DEFAULT_PATH = join(import.meta.dirname, "docker-default.json");
export const WEFT_PROFILE_PATH = join(import.meta.dirname, "weft.json");

/**
 * Allowed by no rule, whatever capabilities a container is given.
 * - io_uring: Docker 25 removed it after container breakouts through it (moby 891241e); Docker 20.10, which
 *   Debian ships, still allows it, and it reaches the host kernel from runc.
 * - mknod, mknodat: without CAP_MKNOD they still make FIFOs in /tmp (and gVisor let nobody make a char
 *   device there); nothing Weft runs needs them.
 * - unshare, setns, clone3: user namespaces hand out capabilities inside them and are the usual first step
 *   of a kernel exploit; Docker gates these on CAP_SYS_ADMIN only. clone stays, with namespace flags masked.
 * - ptrace: clone3 is answered by SCMP_ACT_TRACE (see CLONE3_RULE), which is ENOSYS only while no tracer
 *   exists; a tracer could let clone3 through, so no process may become one.
 * - timer_create, mq_notify: a POSIX timer or a message queue's notification can be told to send SIGCONT, which
 *   the kernel delivers to a stopped process with no permission check: the worker the runner stopped between
 *   calls would resume itself after its answer. setitimer and alarm stay (their signals are fixed, and a stopped
 *   process does not run their handlers); nothing Weft runs creates POSIX timers.
 */
export const NEVER_ALLOWED = [
  "io_uring_setup",
  "io_uring_enter",
  "io_uring_register",
  "mknod",
  "mknodat",
  "unshare",
  "setns",
  "clone3",
  "ptrace",
  "timer_create",
  "mq_notify",
] as const;

/** fcntl's F_SETSIG: the signal an O_ASYNC descriptor sends its owner. */
export const F_SETSIG = 10;

const ENOSYS = 38;

/**
 * glibc (2.34+) starts threads with clone3 and falls back to clone only on ENOSYS; clone3's flags sit behind
 * a pointer that seccomp cannot read, so it must fail, with ENOSYS. Docker's rule says ERRNO with errnoRet 38,
 * which runsc ignores (it answers EPERM to every ERRNO rule: google/gvisor#14688), and threads then fail under
 * gVisor. A TRACE action with no tracer is ENOSYS on Linux and in gVisor's Sentry alike.
 */
const CLONE3_RULE: SyscallRule = {
  names: ["clone3"],
  action: "SCMP_ACT_TRACE",
  comment: "weft: ENOSYS (no tracer can exist: ptrace is denied), so glibc falls back to the filtered clone",
};

/** 32-bit x86 reaches socket() through socketcall, whose family argument seccomp cannot see. */
const SOCKETCALL_RULE: SyscallRule = {
  names: ["socketcall"],
  action: "SCMP_ACT_ERRNO",
  errnoRet: ENOSYS, // it must differ from the default errno, or runc drops the rule (moby/profiles 7158007)
  comment: "weft: socketcall would bypass the AF_ALG and AF_VSOCK socket filters from 32-bit code",
};

/**
 * fcntl without F_SETSIG. With it (and F_SETOWN, O_ASYNC) a worker has SIGCONT sent to itself whenever someone
 * reads its stdout pipe: the runner does, after stopping it between calls, so the worker would resume with its
 * checks passed. Only the signal's choice is refused; O_ASYNC's default SIGIO stays, as it cannot continue anyone.
 */
const FCNTL_RULE: SyscallRule = {
  names: ["fcntl", "fcntl64"],
  action: "SCMP_ACT_ALLOW",
  args: [{ index: 1, value: F_SETSIG, op: "SCMP_CMP_NE" }],
  comment: "weft: no F_SETSIG (a SIGCONT on I/O would continue the worker stopped between calls)",
};

/** Our own rules replace whatever Docker's profile says about these. */
const REPLACED = new Set([...CLONE3_RULE.names, ...SOCKETCALL_RULE.names, ...FCNTL_RULE.names]);
const NEVER = new Set<string>(NEVER_ALLOWED);

function keepName(rule: SyscallRule, name: string): boolean {
  if (REPLACED.has(name)) return false;
  if (rule.action !== "SCMP_ACT_ALLOW") return true;
  // clone survives only in the rules that mask its namespace flags.
  return !NEVER.has(name) && !(name === "clone" && !rule.args?.length);
}

/** Docker lets CAP_SYS_ADMIN skip the clone flag mask; ours holds with any capabilities. */
function withoutAdminException(rule: SyscallRule): SyscallRule {
  const { excludes, ...rest } = rule;
  if (!rule.names.includes("clone") || !excludes?.caps) return rule;
  const { caps: _adminOnly, ...otherExcludes } = excludes;
  return {
    ...rest,
    ...(Object.keys(otherExcludes).length ? { excludes: otherExcludes } : {}),
    comment: `${rule.comment ? `${rule.comment}; ` : ""}weft: no CAP_SYS_ADMIN exception`,
  };
}

function hardenRule(rule: SyscallRule): SyscallRule | undefined {
  const names = rule.names.filter((n) => keepName(rule, n));
  return names.length ? withoutAdminException({ ...rule, names }) : undefined;
}

export function deriveWeftProfile(docker: SeccompProfile): SeccompProfile {
  const syscalls = docker.syscalls.map(hardenRule).filter((r): r is SyscallRule => r !== undefined);
  return { ...docker, syscalls: [SOCKETCALL_RULE, CLONE3_RULE, FCNTL_RULE, ...syscalls] };
}

/** Docker's own files are tab-indented; keeping that makes `diff docker-default.json weft.json` readable. */
export const formatProfile = (profile: SeccompProfile): string => `${JSON.stringify(profile, null, "\t")}\n`;

export function deriveFromFile(path = DOCKER_DEFAULT_PATH): string {
  return formatProfile(deriveWeftProfile(parseSeccompProfile(readFileSync(path, "utf8"), path)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(WEFT_PROFILE_PATH, deriveFromFile());
  console.log(`wrote ${WEFT_PROFILE_PATH}`);
}
