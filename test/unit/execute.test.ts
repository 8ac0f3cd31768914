// Pure parts of ad-hoc execution: the pool policy, the rate limiter, the exec frames and the script outcome mapping.
import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffMs, execDeficit, takeFor } from "../../agents/exec-pool-policy.js";
import { RateLimited, RateLimiter } from "../../gateway/rate-limit.js";
import { FrameDecoder, ProtocolViolation, encodeExec, type ReceivedFrame } from "../../agents/runner-protocol.js";
import { scriptResult } from "../../agents/execution-runner.js";
import { ExecuteRequest } from "../../shared/schemas/execution.js";

test("the exec pool starts up to its target, counting ready and starting ones, and none while backing off", () => {
  assert.equal(execDeficit({ target: 2, ready: 0, starting: 0, backoffUntil: 0, now: 10 }), 2);
  assert.equal(execDeficit({ target: 2, ready: 1, starting: 1, backoffUntil: 0, now: 10 }), 0);
  assert.equal(execDeficit({ target: 1, ready: 3, starting: 0, backoffUntil: 0, now: 10 }), 0);
  assert.equal(execDeficit({ target: 2, ready: 0, starting: 0, backoffUntil: 20, now: 10 }), 0);
  assert.equal(backoffMs(0), 0);
  assert.ok(backoffMs(2) > backoffMs(1));
  assert.equal(backoffMs(50), 30_000);
});

test("a different memory size is a resize on runc and a fresh container on gVisor", () => {
  assert.deepEqual(takeFor("runc", 256, undefined), { kind: "pooled" });
  assert.deepEqual(takeFor("gvisor", 256, 256), { kind: "pooled" });
  assert.deepEqual(takeFor("runc", 256, 512), { kind: "resize", memoryMb: 512 });
  assert.deepEqual(takeFor("gvisor", 256, 512), { kind: "fresh", memoryMb: 512 });
});

test("the rate limiter allows a burst, then refuses with a Retry-After, and refills with time; clients are apart", () => {
  const rl = new RateLimiter({ ratePerSec: 0.5, burst: 2 });
  rl.take("a", 0);
  rl.take("a", 0);
  assert.throws(() => rl.take("a", 0), (e: unknown) => e instanceof RateLimited && e.retryAfterS === 2 && e.code === "RESOURCE_EXHAUSTED");
  rl.take("b", 0); // another address has its own bucket
  rl.take("a", 2000); // one token back after 2 s
  assert.throws(() => rl.take("a", 2000), RateLimited);
});

test("the rate limiter keeps at most maxClients buckets", () => {
  const rl = new RateLimiter({ ratePerSec: 1, burst: 1, maxClients: 2 });
  rl.take("a", 0);
  rl.take("b", 0);
  rl.take("c", 0); // a is dropped: it comes back with a full bucket
  rl.take("a", 0);
  assert.throws(() => rl.take("c", 0), RateLimited);
});

const decode = (bytes: Buffer, logBytes = 1024): ReceivedFrame[] => {
  const out: ReceivedFrame[] = [];
  new FrameDecoder({ logBytes, outputBytes: 1024 }, (f) => out.push(f)).feed(bytes);
  return out;
};

test("exec frames: the program then stdin; exec_result carries stdout then stderr, each bounded", () => {
  const [header, payload] = encodeExec("print('é')", "in", 100);
  assert.deepEqual(JSON.parse(header!.toString()), { t: "exec", codeBytes: 11, stdinBytes: 2, logLimit: 100 });
  assert.equal(payload!.toString(), "print('é')in");
  const h = { t: "exec_result", exitCode: 3, stdoutBytes: 3, stderrBytes: 2, stdoutTruncated: false, stderrTruncated: true };
  const [f] = decode(Buffer.concat([Buffer.from(JSON.stringify(h) + "\n"), Buffer.from("outer")]));
  assert.equal(f!.frame.t, "exec_result");
  assert.equal(f!.output.toString(), "out");
  assert.equal(f!.logs.toString(), "er");
  assert.throws(() => decode(Buffer.from(JSON.stringify({ ...h, stdoutBytes: 2000 }) + "\n")), ProtocolViolation);
  assert.throws(() => decode(Buffer.from(JSON.stringify({ ...h, extra: 1 }) + "\n")), ProtocolViolation);
  assert.equal(decode(Buffer.from('{"t":"exec_error","message":"no"}\n'))[0]!.frame.t, "exec_error");
});

test("a script's ending: 0 is ok, another code NONZERO_EXIT, a signal killed, OOM out of memory", () => {
  const streams = { stdout: Buffer.from("o"), stderr: Buffer.from("e"), stdoutTruncated: false, stderrTruncated: false, oom: false };
  assert.equal(scriptResult({ kind: "exited", exitCode: 0, ...streams }, 1000).status, "ok");
  const failed = scriptResult({ kind: "exited", exitCode: 2, ...streams }, 1000);
  assert.equal(failed.status, "error");
  assert.equal(failed.error?.code, "NONZERO_EXIT");
  assert.equal(failed.exitCode, 2);
  assert.equal(scriptResult({ kind: "exited", signal: "SIGSEGV", ...streams }, 1000).error?.code, "KILLED");
  assert.equal(scriptResult({ kind: "exited", signal: "SIGKILL", ...streams, oom: true }, 1000).error?.code, "OUT_OF_MEMORY");
  assert.equal(scriptResult({ kind: "timeout" }, 1000).status, "timeout");
});

test("the request: script by default, runc by default, timeout 10 s by default; sizes bounded", () => {
  const r = ExecuteRequest.parse({ runtime: "nodejs", code: "x" });
  assert.equal(r.mode, "script");
  assert.equal(r.isolation, "runc");
  assert.equal(r.limits.timeoutMs, 10_000);
  assert.equal(ExecuteRequest.safeParse({ runtime: "nodejs", code: "x", stdin: "é".repeat(600_000) }).success, false);
  assert.equal(ExecuteRequest.safeParse({ runtime: "nodejs", code: "x", limits: { timeoutMs: 60_001 } }).success, false);
});
