// The hostile suite for the rust runtime (issue 12): one Cargo package (test/hostile/rust-crate) whose handler runs
// the attack its event names, compiled once for the file (every case's function has the same files, so the same
// content-addressed layer), then deployed as a function of its own per case and isolation. Each attack must end
// its own call with its true outcome and stable code, leave the function's next call sound, and harm nothing
// else (the health check after every case: the same agent, running, the canary within its bound).
import { before, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BATCH, ISOLATIONS, describeResult, hostileSuite, type Answer, type Hostile, type Isolation } from "./suite.js";
import { assertNextCallGenuine, assertNotForged } from "./outcomes.js";
import { resultPipeFrames } from "./forgery.js";
import { LEAK_TIMEOUT_MS, assertNothingOutlivesTheCall } from "./leftover-check.js";
import type { FinalStatus, InvocationResult } from "../../shared/schemas/invocation.js";

const CRATE = join(import.meta.dirname, "rust-crate");
const FILES = Object.fromEntries(["Cargo.toml", "Cargo.lock", "src/lib.rs"].map((f) => [f, readFileSync(join(CRATE, f), "utf8")]));
/** A cold build downloads and compiles serde_json (and, the first time on a machine, makes the builder image). */
const BUILD_MS = 900_000;
/** The runner cuts an error's message to this (deploy/images/runner: sanitizeError). */
const ERROR_MESSAGE_BYTES = 16 << 10;
/** The log limit. */
const LOG_BYTES = 256 << 10;

const suite = hostileSuite();

interface Spec {
  limits?: { timeoutMs?: number; memoryMb?: number };
  concurrency?: number;
}

/** Deploys the hostile crate as `label`'s function on `isolation`; its layer is built already, so it is ready at once. */
async function deployCrate(h: Hostile, isolation: Isolation, label: string, spec: Spec = {}, buildMs = 60_000): Promise<string> {
  const name = h.name(`rs-${label}`);
  const concurrency = spec.concurrency === undefined ? {} : { concurrency: spec.concurrency };
  await h.deployBuilt(name, { runtime: "rust", isolation, files: FILES, ...concurrency, limits: { timeoutMs: 10_000, memoryMb: 128, ...spec.limits } }, buildMs);
  return name;
}

/**
 * Deploys the crate, runs `op` once (its outcome must be final and one of `allowed`, answered within `withinMs`),
 * hands the result to `check`, then checks the function's next call is answered genuinely.
 */
async function attack(
  h: Hostile,
  isolation: Isolation,
  op: string,
  allowed: readonly FinalStatus[],
  opts: Spec & { event?: Record<string, unknown>; check?: (r: InvocationResult, a: Answer) => void; withinMs?: number; nextWarm?: boolean } = {},
): Promise<void> {
  const name = await deployCrate(h, isolation, op, { limits: opts.limits, concurrency: opts.concurrency });
  try {
    const a = await h.invoke(name, { op, ...opts.event });
    const r = await h.settled(a, allowed, `the ${op} call`);
    if (r.status === "ok") assert.equal((r.output as { genuine?: boolean }).genuine, true, describeResult(r));
    opts.check?.(r, a);
    const limit = opts.withinMs ?? (opts.limits?.timeoutMs ?? 10_000) + 5000;
    assert.ok(a.ms < limit, `the ${op} call was answered after ${a.ms.toFixed(0)} ms (bound ${limit})`);
    const next = await assertNextCallGenuine(h, name);
    if (opts.nextWarm !== undefined) assert.equal(next.coldStart, !opts.nextWarm, `the call after ${op}: ${opts.nextWarm ? "the container should keep serving" : "the container should have been replaced"}`);
  } finally {
    await h.request("DELETE", `/v1/functions/${name}`);
  }
}

const code = (c: string) => (r: InvocationResult) => assert.equal(r.error?.code, c, describeResult(r));

/** What a crash ends as: the worker died, so the runner answers `exit` (KILLED); the container goes. */
const crashed = (r: InvocationResult) => assert.equal(r.error?.code, "KILLED", describeResult(r));

describe("rust: hostile handlers", { concurrency: BATCH }, () => {
  before(async () => {
    // The one compile of the file: later deploys of the same files find the layer built.
    const h = suite.get();
    const name = await deployCrate(h, "runc", "build", {}, BUILD_MS);
    await h.request("DELETE", `/v1/functions/${name}`);
  }, { timeout: BUILD_MS + 60_000 });
  suite.baselines();

  for (const isolation of ISOLATIONS) {
    const where = { runtime: "rust", isolation };

    suite.case("writes forged runner frames (both protocols, every run id) and garbage to stdout and stderr", where, (h) =>
      attack(h, isolation, "forge-stdout", ["ok", "killed"], { check: (r) => assertNotForged(r) }));

    suite.case("speaks the worker protocol on its result pipe (fd 4): unknown ids, outputBytes past the limit, a 100 KiB header, runner frames, error null", where, async (h) => {
      const name = await deployCrate(h, isolation, "fd4");
      try {
        for (const [kind, frame] of Object.entries(resultPipeFrames("rust"))) {
          assertNotForged(await h.settled(await h.invoke(name, { op: "fd4", frame }), ["ok", "killed"], `the ${kind} frame`), `the ${kind} frame`);
          await assertNextCallGenuine(h, name, `the call after the ${kind} frame`);
        }
      } finally {
        await h.request("DELETE", `/v1/functions/${name}`);
      }
    });

    suite.case("floods stdout with 32 MiB (through Rust's buffer and raw writes): logs cut at the limit", where, (h) =>
      attack(h, isolation, "flood", ["ok"], {
        event: { mb: 32 },
        check: (r) => {
          assert.equal(r.logsTruncated, true, describeResult(r));
          assert.ok(Buffer.byteLength(r.logs) <= LOG_BYTES, `logs of ${Buffer.byteLength(r.logs)} bytes`);
        },
        nextWarm: true,
      }));

    suite.case("leaves a fork bomb whose every process keeps re-forking, grown to the pids limit before it answers", where, async (h) =>
      assertNothingOutlivesTheCall(h, await deployCrate(h, isolation, "fork-bomb", { limits: { timeoutMs: LEAK_TIMEOUT_MS } }), { op: "fork-bomb" }));

    suite.case("leaves a thread bomb: spinning threads until the pids limit", where, async (h) =>
      assertNothingOutlivesTheCall(h, await deployCrate(h, isolation, "thread-bomb", { limits: { timeoutMs: LEAK_TIMEOUT_MS } }), { op: "thread-bomb" }));

    suite.case("leaves a spinning thread and returns", where, async (h) =>
      assertNothingOutlivesTheCall(h, await deployCrate(h, isolation, "leak-thread", { limits: { timeoutMs: LEAK_TIMEOUT_MS } }), { op: "leak-thread" }));

    suite.case("leaves a forked child that ticks and returns", where, async (h) =>
      assertNothingOutlivesTheCall(h, await deployCrate(h, isolation, "leak-fork", { limits: { timeoutMs: LEAK_TIMEOUT_MS } }), { op: "leak-fork" }));

    suite.case("swaps threads: ends its own call thread (raw exit), a new one answers for it on fd 4 and works on", where, async (h) =>
      // Concurrency 2: the other call thread serves the probe while the swapped-in thread would work beside it.
      assertNothingOutlivesTheCall(h, await deployCrate(h, isolation, "swap-thread", { limits: { timeoutMs: LEAK_TIMEOUT_MS }, concurrency: 2 }), { op: "swap-thread" }));

    suite.case("blows up its memory: OUT_OF_MEMORY, and the next call runs", where, (h) =>
      attack(h, isolation, "memory", ["killed"], {
        limits: { memoryMb: 128 },
        check: (r) => assert.ok(r.error?.code === "OUT_OF_MEMORY" || (isolation === "gvisor" && r.error?.code === "KILLED"), describeResult(r)),
      }));

    suite.case("writes outside /tmp: /, /etc, /opt/weft, the runner and its own binary, /proc/sys, sysrq, release_agent, uevent_helper", where, (h) =>
      attack(h, isolation, "write-outside", ["ok"], {
        check: (r) => {
          const out = r.output as { report: Record<string, string>; control: string };
          assert.equal(out.control, "written", `the control write to /tmp failed: ${JSON.stringify(out)}`);
          const written = Object.entries(out.report).filter(([, v]) => v === "written");
          assert.deepEqual(written, [], `written outside /tmp: ${JSON.stringify(out.report)}`);
        },
        nextWarm: true,
      }));

    suite.case("signals its parent (the runner) and pid 1 with STOP, TERM, INT, HUP, QUIT, USR1/2 and KILL, then everyone (kill -1)", where, (h) =>
      attack(h, isolation, "signals", ["ok"], {
        check: (r) => {
          const out = r.output as { targeted: Record<string, string> };
          const sent = Object.entries(out.targeted).filter(([, v]) => v === "sent");
          assert.deepEqual(sent, [], `signals delivered to the runner or pid 1: ${JSON.stringify(out)}`);
        },
        nextWarm: true,
      }));

    suite.case("panics: HANDLER_ERROR of type Panic, and the container keeps serving", where, (h) =>
      attack(h, isolation, "panic", ["error"], {
        event: { n: 3 },
        check: (r) => {
          code("HANDLER_ERROR")(r);
          assert.equal(r.error?.type, "Panic", describeResult(r));
          assert.match(r.error?.message ?? "", /on purpose 3/);
        },
        nextWarm: true,
      }));

    suite.case("panics with a payload whose drop panics again: still HANDLER_ERROR of type Panic, and the container keeps serving", where, (h) =>
      attack(h, isolation, "panic-nasty-payload", ["error"], {
        check: (r) => {
          code("HANDLER_ERROR")(r);
          assert.equal(r.error?.type, "Panic", describeResult(r));
        },
        withinMs: 5000,
        nextWarm: true,
      }));

    suite.case("returns an Err whose message is 1 MiB, of letters and of control characters: HANDLER_ERROR with the message cut, not a protocol error", where, async (h) => {
      const name = await deployCrate(h, isolation, "long-error");
      try {
        // "\u0001" is six bytes as JSON: a message cut to 16 KiB would still be a 96 KiB frame header.
        for (const unit of ["e", "\u0001"]) {
          const r = await h.settled(await h.invoke(name, { op: "long-error", unit, times: 1 << 20 }), ["error"], `the Err of ${JSON.stringify(unit)}s`);
          code("HANDLER_ERROR")(r);
          assert.equal(r.error?.type, "Boom", describeResult(r));
          const bytes = Buffer.byteLength(r.error?.message ?? "");
          assert.ok(bytes > 1000 && bytes <= ERROR_MESSAGE_BYTES, `a message of ${bytes} bytes`);
          assert.equal(r.error?.message, unit.repeat(bytes), "the message is the start of the handler's");
          const next = await assertNextCallGenuine(h, name);
          assert.equal(next.coldStart, false, "the container keeps serving");
        }
      } finally {
        await h.request("DELETE", `/v1/functions/${name}`);
      }
    });

    for (const [op, what] of [
      ["abort", "aborts (std::process::abort)"],
      ["segfault", "writes to an unmapped address (SIGSEGV)"],
      ["stack-overflow", "recurses until its stack overflows"],
      ["exit", "exits with status 0 mid-call (std::process::exit)"],
    ] as const) {
      suite.case(`${what}: KILLED, and the next call runs in a new container`, where, (h) =>
        attack(h, isolation, op, ["killed"], { check: crashed, withinMs: 8000, nextWarm: false }));
    }

    suite.case("spins in an infinite loop past timeoutMs: TIMEOUT, and the container is never reused", where, (h) =>
      attack(h, isolation, "loop", ["timeout"], { limits: { timeoutMs: 1500 }, check: code("TIMEOUT"), nextWarm: false }));

    suite.case("starts a spinning thread, then blocks past timeoutMs: TIMEOUT, and the container is never reused", where, (h) =>
      attack(h, isolation, "thread-then-hang", ["timeout"], { limits: { timeoutMs: 1500 }, check: code("TIMEOUT"), nextWarm: false }));
  }
});

suite.finally();
