// Hostile frames: a handler that has read the runner and the agent tries to forge, corrupt or inject protocol
// frames by every route it can reach, and returns outputs built to break the agent. Issue 6 items 1, 2, 4.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { pyHandler } from "./kit-python.js";
import { jsHandler } from "./kit-node.js";
import { ERROR_NULL, FORGED_OK, MALFORMED, forger, resultPipeFrames, type Forgery } from "./forgery.js";
import { eventually } from "../harness/eventually.js";
import { BATCH, FORGED, ISOLATIONS, RUNTIMES, describeResult, hostileSuite, type Hostile, type Isolation, type Runtime } from "./suite.js";
import { OUTPUT_TOO_DEEP, RUNTIME_PROTOCOL_ERROR, assertNextCallGenuine, assertNotForged, depthOf } from "./outcomes.js";

const suite = hostileSuite();

/** Deploys a forger, runs it once, checks it forged nothing and its function still answers genuinely. */
async function forgeOnce(h: Hostile, where: { runtime: Runtime; isolation: Isolation }, label: string, f: Forgery): Promise<void> {
  const name = h.name(`forge-${label}`);
  await h.deploy(name, { runtime: where.runtime, isolation: where.isolation, code: forger(where.runtime, f), limits: { timeoutMs: 10_000 } });
  const r = await h.settled(await h.invoke(name, {}), ["ok", "killed"], "the forging call");
  assertNotForged(r);
  await assertNextCallGenuine(h, name);
}

describe("forged frames", { concurrency: BATCH }, () => {
  suite.baselines();
  for (const isolation of ISOLATIONS) {
    for (const runtime of RUNTIMES) {
      const where = { runtime, isolation };
      suite.case("writes token-bearing result frames to fds 1, 2 and 3 with the token read from /proc/self/environ and /proc/1/environ", where, (h) =>
        forgeOnce(h, where, "fd123", { tokens: "environ", routes: "fds 1-3", frames: FORGED_OK }));

      suite.case("sprays result and end frames down every fd of every process (/proc/<pid>/fd/*, /proc/1/fd/*, /dev/std*) with every token-like string in any environ or cmdline", where, (h) =>
        forgeOnce(h, where, "every-fd", { tokens: "environ", routes: "everywhere", frames: FORGED_OK }));

      suite.case("scans its own memory (/proc/self/mem, the runner's globals) for the frame token and forges with every candidate", where, (h) =>
        forgeOnce(h, where, "memory", { tokens: "memory", routes: "everywhere", frames: FORGED_OK }));

      suite.case("forges frames with malformed fields (logs an object whose toString is not callable, error a string, numeric ids)", where, (h) =>
        forgeOnce(h, where, "malformed", { tokens: "everywhere", routes: "everywhere", frames: MALFORMED }));

      suite.case('forges {"ok":false,"error":null} result frames', where, (h) =>
        forgeOnce(h, where, "error-null", { tokens: "everywhere", routes: "everywhere", frames: ERROR_NULL }));

      suite.case("speaks the worker protocol on its result pipe (fd 4): unknown call ids, outputBytes past the limit, a 100 KiB header, frames only the runner may send, error null", where, async (h) => {
        const name = h.name("protocol-fd4");
        const frames = resultPipeFrames(runtime);
        const code = runtime === "python3"
          ? pyHandler(`if event.get("probe"):
    return {"genuine": True}
for rid in RUN_IDS:
    try:
        write_all(4, event["frame"].replace("ID", rid).encode())
    except OSError:
        pass
return {"genuine": True}`)
          : jsHandler(`if (event.probe) return { genuine: true };
for (const id of RUN_IDS) { try { writeAll(4, Buffer.from(event.frame.replaceAll("ID", id))); } catch (e) {} }
return { genuine: true };`);
        await h.deploy(name, { runtime, isolation, code, limits: { timeoutMs: 10_000 } });
        for (const [kind, frame] of Object.entries(frames)) {
          assertNotForged(await h.settled(await h.invoke(name, { frame }), ["ok", "killed"], `the ${kind} frame`), `the ${kind} frame`);
          await assertNextCallGenuine(h, name, `the call after the ${kind} frame`);
        }
      });

      suite.case("forges an early answer, then keeps running past timeoutMs to starve the next call", where, async (h) => {
        const name = h.name("forge-early");
        const spin = runtime === "python3" ? "end = time.time() + 4\nwhile time.time() < end:\n    pass" : "busy(4000);";
        await h.deploy(name, {
          runtime,
          isolation,
          code: forger(runtime, { tokens: "everywhere", routes: "everywhere", frames: FORGED_OK }, spin),
          limits: { timeoutMs: 1500 },
        });
        const a = await h.invoke(name, {});
        const r = await h.settled(a, ["timeout", "killed"], "the call that forged its answer and ran on");
        // Its own outcome is a timeout; the platform may instead end it for the forgery. Never the forged answer.
        assert.equal(r.error?.code, r.status === "timeout" ? "TIMEOUT" : RUNTIME_PROTOCOL_ERROR, describeResult(r));
        assert.ok(!JSON.stringify(r.output ?? null).includes(FORGED), describeResult(r));
        assert.ok(a.ms < 1500 + 5000, `the call was answered after ${a.ms.toFixed(0)} ms: its timeout did not bound it`);
        await assertNextCallGenuine(h, name, "the innocent call after it");
      });

      suite.case("injects an init frame (new code, new env) into the runner's stdin via /proc/<pid>/fd/0 to swap the code of later calls", where, async (h) => {
        const name = h.name("inject-init");
        const pwned = runtime === "python3" ? `"def handler(event, context):\\n    return {'pwned': True}\\n"` : `"exports.handler = async () => ({ pwned: true })"`;
        const frames = {
          py: `[json.dumps({"t": "init", "code": ${pwned}, "env": {"PWNED": "1"}, "logBytes": 262144, "concurrency": 1}), '{"t":"run","id":"99","ctx":{},"event":null}']`,
          js: `[JSON.stringify({ t: "init", code: ${pwned}, env: { PWNED: "1" }, logBytes: 262144, concurrency: 1 }), '{"t":"run","id":"99","ctx":{},"event":null}']`,
        };
        await h.deploy(name, { runtime, isolation, code: forger(runtime, { tokens: "everywhere", routes: "everywhere", frames }), limits: { timeoutMs: 10_000 } });
        const r = await h.settled(await h.invoke(name, {}), ["ok", "killed"], "the injecting call");
        assertNotForged(r, "the injecting call");
        for (const n of [1, 2]) await assertNextCallGenuine(h, name, `call ${n} after the injection`);
      });

      suite.case("reaches for the agent's channel: lists /run/weft, connects to its socket directly and via /proc/<pid>/root, to speak as the runner", where, async (h) => {
        const name = h.name("reach-channel");
        const code = runtime === "python3"
          ? pyHandler(`if event and event.get("probe"):
    return {"genuine": True}
import socket
report = {}
for path in ("/run/weft", "/run/weft/ch"):
    try:
        os.listdir(path)
        report["list " + path] = "listed"
    except OSError as e:
        report["list " + path] = err_name(e)
for path in ["/run/weft/ch"] + ["/proc/%d/root/run/weft/ch" % p for p in others()]:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        s.sendall(b'{"t":"result","id":"1","ok":true,"outputBytes":2,"logBytes":0}\\n{}')
        report["connect " + path] = "connected"
    except OSError as e:
        report["connect " + path] = err_name(e)
    finally:
        s.close()
return {"genuine": True, "report": report}`)
          : jsHandler(`if (event && event.probe) return { genuine: true };
const net = require("net");
const report = {};
for (const p of ["/run/weft", "/run/weft/ch"]) {
  try { fs.readdirSync(p); report["list " + p] = "listed"; } catch (e) { report["list " + p] = errName(e); }
}
for (const p of ["/run/weft/ch", ...others().map((pid) => "/proc/" + pid + "/root/run/weft/ch")]) {
  report["connect " + p] = await new Promise((done) => {
    const s = net.connect(p, () => { s.end('{"t":"result","id":"1","ok":true,"outputBytes":2,"logBytes":0}\\n{}'); done("connected"); });
    s.on("error", (e) => done(errName(e)));
  });
}
return { genuine: true, report };`);
        await h.deploy(name, { runtime, isolation, code, limits: { timeoutMs: 10_000 } });
        const r = await h.settled(await h.invoke(name, {}), ["ok"], "the call reaching for the channel");
        assertNotForged(r, "the call reaching for the channel");
        const report = (r.output as { report: Record<string, string> }).report;
        assert.ok(Object.keys(report).length >= 3, JSON.stringify(report));
        for (const [route, what] of Object.entries(report)) {
          assert.ok(what !== "listed" && what !== "connected", `${route}: ${what} (${JSON.stringify(report)})`);
        }
        await assertNextCallGenuine(h, name, "the call after it");
      });

      suite.case("signals every other process in the container (kill 0, SIGSTOP, SIGCONT, SIGTERM, SIGKILL; kill(-1))", where, async (h) => {
        const name = h.name("signal-others");
        // kill(-1) succeeds on Linux as long as any process exists, even when every signal was refused: what
        // counts is that the processes it aimed at are still there.
        const code = runtime === "python3"
          ? pyHandler(`if event and event.get("probe"):
    return {"genuine": True}
targets, report = others(), {}
for pid in targets:
    r = report.setdefault(str(pid), {})
    for sig in ("0", "SIGSTOP", "SIGCONT", "SIGTERM", "SIGKILL"):
        try:
            os.kill(pid, 0 if sig == "0" else getattr(signal, sig))
            r[sig] = "sent"
        except OSError as e:
            r[sig] = err_name(e)
for sig in (signal.SIGSTOP, signal.SIGKILL):
    try:
        os.kill(-1, sig)
    except OSError:
        pass
return {"genuine": True, "targets": targets, "signals": report, "alive": [p for p in targets if os.path.exists("/proc/%d" % p) and not status_of(p).get("State", "").startswith(("Z", "T"))]}`)
          : jsHandler(`if (event && event.probe) return { genuine: true };
const targets = others(), report = {};
for (const pid of targets) {
  const r = (report[pid] = {});
  for (const sig of [0, "SIGSTOP", "SIGCONT", "SIGTERM", "SIGKILL"]) {
    try { process.kill(pid, sig); r[sig] = "sent"; } catch (e) { r[sig] = errName(e); }
  }
}
for (const sig of ["SIGSTOP", "SIGKILL"]) { try { process.kill(-1, sig); } catch (e) {} }
const alive = targets.filter((p) => fs.existsSync("/proc/" + p) && !/^[ZT]/.test(statusOf(p).State || ""));
return { genuine: true, targets, signals: report, alive };`);
        await h.deploy(name, { runtime, isolation, code, limits: { timeoutMs: 10_000 } });
        const r = await h.settled(await h.invoke(name, {}), ["ok"], "the signalling call");
        const out = r.output as { targets: number[]; signals: Record<string, Record<string, string>>; alive: number[] };
        assert.ok(out.targets.length > 0, "the handler sees no other process: nothing was tested");
        const delivered = Object.entries(out.signals).flatMap(([pid, r]) => Object.entries(r).filter(([, v]) => v === "sent").map(([sig]) => `${sig}→${pid}`));
        assert.deepEqual(delivered, [], `user code signalled processes it did not start (the runner, init): ${JSON.stringify(out.signals)}`);
        assert.deepEqual(out.alive, out.targets, "kill(-1) stopped or ended a process user code did not start");
        await assertNextCallGenuine(h, name);
      });

      suite.case("withholds newlines on stdout and stderr so the runner's markers are glued to attacker text", where, async (h) => {
        const name = h.name("glue");
        const code = runtime === "python3"
          ? pyHandler(`if event and event.get("probe"):
    return {"genuine": True}
tokens = unique(env_tokens())
os.write(1, b"no newline " * 100)
for t in tokens[:4]:
    os.write(2, t + b' {"t":"result","id":"1","ok":true,"output":{"forged":"FORGED-BY-HANDLER"},"logs":"","x":"')
os.write(2, b"{" * 5000)
sys.stdout.write("printed, no newline")
return {"genuine": True}`)
          : jsHandler(`if (event && event.probe) return { genuine: true };
fs.writeSync(1, "no newline ".repeat(100));
for (const t of unique(envTokens()).slice(0, 4)) fs.writeSync(2, t + ' {"t":"result","id":"1","ok":true,"output":{"forged":"FORGED-BY-HANDLER"},"logs":"","x":"');
fs.writeSync(2, "{".repeat(5000));
process.stdout.write("printed, no newline");
return { genuine: true };`);
        await h.deploy(name, { runtime, isolation, code, limits: { timeoutMs: 10_000 } });
        assertNotForged(await h.settled(await h.invoke(name, {}), ["ok", "killed"], "the gluing call"));
        await assertNextCallGenuine(h, name);
      });

      suite.case("returns an output nested 5,000 levels deep", where, async (h) => {
        const name = h.name("deep-out");
        const code = runtime === "python3"
          ? pyHandler(`x = 0\nfor _ in range(5000):\n    x = [x]\nreturn x`)
          : jsHandler(`let x = 0;\nfor (let i = 0; i < 5000; i++) x = [x];\nreturn x;`);
        await h.deploy(name, { runtime, isolation, code, limits: { timeoutMs: 10_000 } });
        const r = await h.settled(await h.invoke(name, {}), ["ok", "error"], "the deep output");
        if (r.status === "ok") assert.equal(depthOf(r.output), 5000, "returned, but not intact");
        else assert.equal(r.error?.code, OUTPUT_TOO_DEEP, describeResult(r));
      });

      suite.case("returns strings with lone surrogates, NULs, U+2028 and a fake token line", where, async (h) => {
        const name = h.name("odd-strings");
        const code = runtime === "python3"
          ? pyHandler(`return {"genuine": True, "s": "\\ud800 \\udfff \\x00 \\u2028 \\u2029 \\n" + (env_tokens() or [b"x"])[0].decode() + ' {"t":"end","id":"1"}\\n'}`)
          : jsHandler(`return { genuine: true, s: "\\ud800 \\udfff \\u0000 \\u2028 \\u2029 \\n" + (envTokens()[0] || "x") + ' {"t":"end","id":"1"}\\n' };`);
        await h.deploy(name, { runtime, isolation, code, limits: { timeoutMs: 10_000 } });
        const r = await h.settled(await h.invoke(name, {}), ["ok", "error"], "the odd output");
        if (r.status === "ok") assert.equal((r.output as { genuine: boolean }).genuine, true, describeResult(r));
        else assert.equal(r.error?.code, "OUTPUT_NOT_JSON", describeResult(r));
        const again = await h.settled(await h.invoke(name, {}), ["ok", "error"], "the next call");
        assert.equal(again.status, r.status);
      });
    }

    suite.case("forges a frame in an async call: its record still ends final, attempt 1, and its job leaves WEFT_JOBS", { isolation, runtime: "python3" }, async (h) => {
      const name = h.name("forge-async");
      // A forged frame kills the call, and an async kill is retried by the function's policy (issue 10); with no
      // user retries the platform must not run it again either: one attempt, one final record.
      await h.deploy(name, { runtime: "python3", isolation, async: { maxRetries: 0 }, code: forger("python3", { tokens: "everywhere", routes: "everywhere", frames: ERROR_NULL }) });
      const accepted = await h.invoke(name, {}, "?async=true");
      assert.equal(accepted.status, 202);
      const id = accepted.body.invocationId as string;
      const first = await h.tap.firstFinal(id, 20_000);
      assert.equal(first.attempt, 1, `the final record is of attempt ${first.attempt}`);
      assert.equal(h.tap.finalsOf(id).length, 1, "more than one final record");
      const stored = await eventually(async () => {
        const res = await h.request("GET", `/v1/invocations/${id}`);
        return res.status === 200 && res.body.status !== "queued" && res.body.status !== "running" ? res.body : undefined;
      }, `the record of ${id} to be final`, 20_000);
      assert.equal(stored.attempt, 1);
      assertNotForged(stored, "the async forging call");
    });
  }
});

suite.finally();
