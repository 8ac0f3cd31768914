// The shipped seccomp profile: derived from Docker's default by deploy/seccomp/derive.ts, with the holes Weft
// closes kept closed, and everything the runners need kept open. test/isolation-hardening.test.ts proves the
// same from inside real containers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ConfigError } from "../../shared/config.js";
import { DEFAULT_SECCOMP_PROFILE, loadSeccompOption, parseSeccompProfile, type SeccompProfile, type SyscallRule } from "../../agents/seccomp.js";
import { F_SETSIG, NEVER_ALLOWED, WEFT_PROFILE_PATH, deriveFromFile } from "../../deploy/seccomp/derive.js";

const profile = parseSeccompProfile(readFileSync(WEFT_PROFILE_PATH, "utf8"), WEFT_PROFILE_PATH);
const CLONE_NAMESPACE_FLAGS = 0x7e020000; // NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
const CLONE_NEWUSER = 0x10000000;

const rulesFor = (p: SeccompProfile, name: string): SyscallRule[] => p.syscalls.filter((r) => r.names.includes(name));
const unconditionallyAllowed = (p: SeccompProfile, name: string): boolean =>
  rulesFor(p, name).some((r) => r.action === "SCMP_ACT_ALLOW" && !r.args?.length && !r.includes && !r.excludes);

test("weft.json is what derive.ts makes of Docker's default profile", () => {
  assert.equal(readFileSync(WEFT_PROFILE_PATH, "utf8"), deriveFromFile(), "weft.json is stale: run node --import tsx deploy/seccomp/derive.ts");
  assert.equal(DEFAULT_SECCOMP_PROFILE, WEFT_PROFILE_PATH);
});

test("io_uring, mknod, unshare, setns, clone3, ptrace, timer_create and mq_notify are allowed by no rule, with any capabilities", () => {
  for (const name of NEVER_ALLOWED) {
    const allowing = rulesFor(profile, name).filter((r) => r.action === "SCMP_ACT_ALLOW");
    assert.deepEqual(allowing, [], `${name} is allowed`);
  }
  assert.equal(profile.defaultAction, "SCMP_ACT_ERRNO");
});

test("fcntl is allowed for every command but F_SETSIG (a SIGCONT on I/O would continue the stopped worker)", () => {
  for (const name of ["fcntl", "fcntl64"]) {
    const rules = rulesFor(profile, name);
    assert.deepEqual(rules.map((r) => [r.action, r.args]), [["SCMP_ACT_ALLOW", [{ index: 1, value: F_SETSIG, op: "SCMP_CMP_NE" }]]], name);
    assert.equal(rules[0]!.includes, undefined);
  }
  assert.equal(F_SETSIG, 10);
});

test("clone is allowed only with every namespace flag clear, whatever the capabilities", () => {
  const allowing = rulesFor(profile, "clone").filter((r) => r.action === "SCMP_ACT_ALLOW");
  assert.ok(allowing.length > 0, "fork and threads need clone");
  for (const rule of allowing) {
    const masks = (rule.args ?? []).filter((a) => a.op === "SCMP_CMP_MASKED_EQ" && (a.valueTwo ?? 0) === 0);
    assert.equal(masks.length, 1, JSON.stringify(rule));
    assert.equal(masks[0]!.value & CLONE_NAMESPACE_FLAGS, CLONE_NAMESPACE_FLAGS, "every namespace flag is masked");
    assert.ok(masks[0]!.value & CLONE_NEWUSER);
    assert.equal(rule.excludes?.caps, undefined, "no CAP_SYS_ADMIN exception");
    assert.equal(rule.includes?.caps, undefined);
  }
});

test("clone3 fails with ENOSYS on runc and gVisor alike (a TRACE action with no tracer), so glibc falls back to clone", () => {
  assert.deepEqual(rulesFor(profile, "clone3").map((r) => r.action), ["SCMP_ACT_TRACE"]);
  assert.ok(!unconditionallyAllowed(profile, "ptrace"), "a tracer could let clone3 through");
});

test("the socket families Docker 25+ blocks (AF_ALG 38, AF_VSOCK 40) stay blocked, socketcall included", () => {
  const socketRules = rulesFor(profile, "socket");
  assert.ok(socketRules.every((r) => r.action === "SCMP_ACT_ALLOW" && r.args?.length === 1), "socket is allowed only by family");
  const allows = (family: number) =>
    socketRules.some((r) => {
      const a = r.args![0]!;
      return (a.op === "SCMP_CMP_LT" && family < a.value) || (a.op === "SCMP_CMP_EQ" && family === a.value) || (a.op === "SCMP_CMP_GT" && family > a.value);
    });
  assert.ok(!allows(38) && !allows(40));
  assert.ok(allows(1) && allows(2) && allows(10), "AF_UNIX, AF_INET and AF_INET6 stay");
  assert.deepEqual(rulesFor(profile, "socketcall").map((r) => [r.action, r.errnoRet]), [["SCMP_ACT_ERRNO", 38]]);
});

test("what the runners need stays allowed: a root runner dropping to nobody, forking, signalling and waiting", () => {
  const needed = ["setuid", "setgid", "setgroups", "setresuid", "setresgid", "capset", "capget", "prctl", "kill", "tgkill",
    "fork", "vfork", "execve", "wait4", "waitid", "pipe2", "dup3", "exit_group", "futex", "rt_sigaction", "close_range"];
  for (const name of needed) assert.ok(unconditionallyAllowed(profile, name), `${name} must be allowed`);
});

test("a profile that is not a deny-by-default Docker profile stops the agent with the variable's name", () => {
  assert.throws(() => parseSeccompProfile("{", "/x.json"), (e: Error) => e instanceof ConfigError && /WEFT_SECCOMP_PROFILE: \/x.json is not JSON/.test(e.message));
  const allowAll = JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", archMap: [{ architecture: "SCMP_ARCH_X86_64", subArchitectures: null }], syscalls: [{ names: ["x"], action: "SCMP_ACT_ERRNO" }] });
  assert.throws(() => parseSeccompProfile(allowAll, "/y.json"), /WEFT_SECCOMP_PROFILE: \/y.json .*defaultAction: must deny by default/);
  const typo = JSON.stringify({ ...profile, syscalls: [{ name: ["io_uring_setup"], action: "SCMP_ACT_ALLOW" }] });
  assert.throws(() => parseSeccompProfile(typo, "/z.json"), /syscalls\.0/);
  assert.throws(() => loadSeccompOption("/nonexistent/weft.json"), /WEFT_SECCOMP_PROFILE: cannot read \/nonexistent\/weft.json/);
});

test("the security option carries the profile's JSON on one line, as Docker's API takes it", () => {
  const option = loadSeccompOption(DEFAULT_SECCOMP_PROFILE);
  assert.ok(option.startsWith("seccomp={"));
  assert.ok(!option.includes("\n"));
  assert.deepEqual(JSON.parse(option.slice("seccomp=".length)), profile);
});
