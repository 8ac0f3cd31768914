// Resource attacks: floods, full filesystems, exhausted pids and fds, limits, signals, stdin, symlinks,
// exits and crashes of every kind. Each ends as a final outcome of its own call, never harms the agent, and
// never poisons the function's next call. Issue 6 items 3, 7 and the "more of your own" list.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { pyHandler } from "./kit-python.js";
import { jsHandler } from "./kit-node.js";
import { BATCH, ISOLATIONS, RUNTIMES, describeResult, hostileSuite, type Hostile, type Isolation, type Runtime } from "./suite.js";
import { assertNextCallGenuine } from "./outcomes.js";
import type { FinalStatus, InvocationResult } from "../../shared/schemas/invocation.js";

const suite = hostileSuite();


type Where = { runtime: Runtime; isolation: Isolation };

interface Harm {
  /** Python and JS handler bodies: the attack, then `return {"genuine": True}`. */
  py?: string;
  js?: string;
  /** What the next call does to prove the container is sound (raises/throws if not), before returning genuine. */
  probe?: { py?: string; js?: string };
  /** Extra code at module level. */
  preamble?: { py?: string; js?: string };
}

function harmful(runtime: Runtime, harm: Harm): string {
  if (runtime === "python3") {
    return pyHandler(`if event.get("probe"):
${(harm.probe?.py ?? "pass").replace(/^/gm, "    ")}
    return {"genuine": True, "calls": CALLS["n"]}
${harm.py}
return {"genuine": True}`, `import resource, subprocess\n${harm.preamble?.py ?? ""}`);
  }
  return jsHandler(`if (event.probe) {
${harm.probe?.js ?? ""}
  return { genuine: true, calls: CALLS.n };
}
${harm.js}
return { genuine: true };`, harm.preamble?.js ?? "");
}

/**
 * Deploys the harmful function, runs the harm once (its outcome must be final, one of `allowed`, answered
 * within `withinMs`), then checks the function's next call is sound.
 */
async function selfHarm(
  h: Hostile,
  where: Where,
  label: string,
  harm: Harm,
  allowed: readonly FinalStatus[],
  opts: { timeoutMs?: number; memoryMb?: number; check?: (r: InvocationResult) => void; withinMs?: number } = {},
): Promise<void> {
  const name = h.name(label);
  await h.deploy(name, { ...where, code: harmful(where.runtime, harm), limits: { timeoutMs: opts.timeoutMs ?? 10_000, memoryMb: opts.memoryMb ?? 256 } });
  try {
    const a = await h.invoke(name, {});
    const r = await h.settled(a, allowed, "the harmful call");
    if (r.status === "ok") assert.equal((r.output as { genuine?: boolean }).genuine, true, describeResult(r));
    opts.check?.(r);
    const limit = opts.withinMs ?? (opts.timeoutMs ?? 10_000) + 5000;
    assert.ok(a.ms < limit, `the harmful call was answered after ${a.ms.toFixed(0)} ms (bound ${limit})`);
    await assertNextCallGenuine(h, name);
  } finally {
    await h.request("DELETE", `/v1/functions/${name}`);
  }
}

const code = (c: string) => (r: InvocationResult) => assert.equal(r.error?.code, c, describeResult(r));

describe("resource attacks", { concurrency: BATCH }, () => {
  suite.baselines();
  for (const isolation of ISOLATIONS) {
    for (const runtime of RUNTIMES) {
      const where = { runtime, isolation };

      suite.case("fills /tmp to ENOSPC and returns: the next call can write to /tmp", where, (h) =>
        selfHarm(h, where, "fill-tmp", {
          py: `try:\n    with open("/tmp/fill", "wb") as f:\n        while True:\n            f.write(b"x" * (1 << 20))\nexcept OSError:\n    pass`,
          js: `try { const fd = fs.openSync("/tmp/fill", "w"); const b = Buffer.alloc(1 << 20, 120); for (;;) fs.writeSync(fd, b); } catch (e) {}`,
          probe: {
            py: `with open("/tmp/next-%d" % CALLS["n"], "wb") as f:\n    f.write(b"y" * (1 << 20))`,
            js: `fs.writeFileSync("/tmp/next-" + CALLS.n, Buffer.alloc(1 << 20, 121));`,
          },
        }, ["ok"]));

      suite.case("fills /dev/shm to ENOSPC and returns: the next call can write to /dev/shm", where, (h) =>
        selfHarm(h, where, "fill-shm", {
          py: `try:\n    with open("/dev/shm/fill", "wb") as f:\n        while True:\n            f.write(b"x" * (1 << 20))\nexcept OSError:\n    pass`,
          js: `try { const fd = fs.openSync("/dev/shm/fill", "w"); const b = Buffer.alloc(1 << 20, 120); for (;;) fs.writeSync(fd, b); } catch (e) {}`,
          probe: {
            py: `with open("/dev/shm/next-%d" % CALLS["n"], "wb") as f:\n    f.write(b"y" * (8 << 20))`,
            js: `fs.writeFileSync("/dev/shm/next-" + CALLS.n, Buffer.alloc(8 << 20, 121));`,
          },
        }, ["ok"]));

      suite.case("spins in a busy loop past timeoutMs: timeout, and the container is never reused", where, async (h) => {
        const name = h.name("busy-loop");
        await h.deploy(name, { ...where, code: harmful(runtime, { py: "while True:\n    pass", js: "for (;;) {}" }), limits: { timeoutMs: 1000 } });
        const a = await h.invoke(name, {});
        code("TIMEOUT")(await h.settled(a, ["timeout"], "the busy loop"));
        assert.ok(a.ms < 1000 + 4000, `answered after ${a.ms.toFixed(0)} ms`);
        const next = await assertNextCallGenuine(h, name);
        assert.equal(next.coldStart, true, "the timed-out container was reused");
      });

      suite.case("blocks in native code past timeoutMs (a C loop holding the GIL / Atomics.wait)", where, (h) =>
        selfHarm(h, where, "native-block", {
          py: "sum(range(10 ** 13))",
          js: "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);",
        }, ["timeout"], { timeoutMs: 1000, check: code("TIMEOUT") }));

      suite.case("runs without limits.cpus: its container still has a CPU limit", where, async (h) => {
        const name = h.name("cpu-limit");
        const body = runtime === "python3"
          ? 'end = time.time() + 0.2\nwhile time.time() < end:\n    pass\nreturn {"containerId": container_id()}'
          : "busy(200);\nreturn { containerId: containerId() };";
        await h.deploy(name, { ...where, code: runtime === "python3" ? pyHandler(body) : jsHandler(body), limits: { memoryMb: 128 } });
        try {
          const r = await h.settled(await h.invoke(name, {}), ["ok"], "the spinning call");
          const reported = (r.output as { containerId: string | null }).containerId;
          const ids = reported ? [reported] : await h.containers.ids(name);
          assert.ok(ids.length > 0, "could not find the function's container");
          for (const id of ids) {
            const limit = await h.containers.cpuLimit(id);
            assert.ok(limit, `no cgroup found for ${id}`);
            assert.ok(limit.cpus !== undefined && limit.cpus > 0, `container ${id.slice(0, 12)} runs without a CPU limit (${limit.source})`);
          }
        } finally {
          await h.request("DELETE", `/v1/functions/${name}`);
        }
      });

      suite.case("forks sleepers until the pids limit and returns: the next call can still fork", where, (h) =>
        selfHarm(h, where, "pids", {
          py: `try:\n    while True:\n        if os.fork() == 0:\n            time.sleep(60)\n            os._exit(0)\nexcept OSError:\n    pass`,
          js: `try { for (let i = 0; i < 400; i++) KEEP.push(cp.spawn("sleep", ["60"], { stdio: "ignore" })); } catch (e) {}`,
          probe: {
            py: `kids = [subprocess.Popen(["true"]) for _ in range(8)]\nfor k in kids:\n    k.wait()`,
            js: `for (let i = 0; i < 8; i++) { const r = cp.spawnSync("true"); if (r.error) throw r.error; }`,
          },
          preamble: { js: "const KEEP = [];" },
        }, ["ok", "killed"]));

      suite.case("opens files until EMFILE and keeps them: the next call still runs", where, (h) =>
        selfHarm(h, where, "emfile", {
          py: `try:\n    while True:\n        KEEP.append(open("/dev/null"))\nexcept OSError:\n    pass`,
          js: `try { for (;;) KEEP.push(fs.openSync("/dev/null", "r")); } catch (e) {}`,
          preamble: { py: "KEEP = []", js: "const KEEP = [];" },
        }, ["ok"]));

      // 80,000 kill calls and 20,000 signals to itself: about 5 s of the worker's own CPU on gVisor with nodejs when
      // four run side by side on this machine's 2 cores, so the storm gets 30 s (a full CI run once pushed it past 10).
      suite.case("storms signals at itself, its parent, pid 1 and everyone (kill -1) for 20,000 rounds", where, (h) =>
        selfHarm(h, where, "signal-storm", {
          py: `child = os.fork()
if child == 0:
    try:
        sigs, ppid = (signal.SIGWINCH, signal.SIGCHLD, signal.SIGURG, signal.SIGCONT), os.getppid()
        for i in range(20000):
            for target in (ppid, 1, -1):
                try:
                    os.kill(target, sigs[i % 4])
                except OSError:
                    pass
    finally:
        os._exit(0)
end = time.time() + 0.3
while time.time() < end:
    pass
os.waitpid(child, 0)`,
          js: `const sigs = ["SIGWINCH", "SIGCHLD", "SIGURG", "SIGCONT"];
for (let i = 0; i < 20000; i++) for (const target of [process.pid, process.ppid, 1, -1]) { try { process.kill(target, sigs[i % 4]); } catch (e) {} }`,
        }, ["ok"], { timeoutMs: 30_000 }));

      suite.case("execs with a 4 MB argv, a 200 KB argument and a 4 MB environment", where, (h) =>
        selfHarm(h, where, "huge-argv", {
          py: `for args, env in ((["true"] + ["x" * 1000] * 4000, None), (["true", "y" * 200000], None), (["true"], dict(os.environ, **{"BIG%d" % i: "z" * 4000 for i in range(1000)}))):
    try:
        subprocess.run(args, env=env)
    except OSError:
        pass`,
          js: `for (const [args, env] of [[Array(4000).fill("x".repeat(1000)), undefined], [["y".repeat(200000)], undefined], [[], { ...process.env, ...Object.fromEntries(Array.from({ length: 1000 }, (_, i) => ["BIG" + i, "z".repeat(4000)])) }]]) {
  cp.spawnSync("true", args, { env });
}`,
        }, ["ok"]));

      suite.case("symlinks /tmp entries to /, /proc/1, /proc/<ppid>/environ and /opt/weft, hard-links the runner, reads through them", where, async (h) => {
        const name = h.name("symlinks");
        const py = pyHandler(`listing = sorted((f, os.stat(os.path.join("/opt/weft", f)).st_size) for f in os.listdir("/opt/weft"))
if event.get("probe"):
    return {"genuine": True, "runner": listing}
ppid = os.getppid()
links = {"/tmp/l-root": "/", "/tmp/l-init": "/proc/1", "/tmp/l-initenv": "/proc/1/environ", "/tmp/l-parentenv": "/proc/%d/environ" % ppid,
         "/tmp/l-parentmem": "/proc/%d/mem" % ppid, "/tmp/l-runner": "/opt/weft", "/tmp/l-sock": "/var/run/docker.sock"}
for path, target in links.items():
    try:
        os.symlink(target, path)
    except OSError:
        pass
reads = {}
for path in ("/tmp/l-initenv", "/tmp/l-parentenv", "/tmp/l-parentmem", "/tmp/l-init/environ"):
    try:
        with open(path, "rb") as f:
            f.read(16)
        reads[path] = "read"
    except OSError as e:
        reads[path] = err_name(e)
for src in [os.path.join("/opt/weft", f) for f, _ in listing]:
    try:
        os.link(src, "/tmp/l-hard")
        reads["hardlink " + src] = "linked"
    except OSError as e:
        reads["hardlink " + src] = err_name(e)
try:
    with open("/tmp/l-runner/planted", "w") as f:
        f.write("x")
    reads["write through link"] = "written"
except OSError as e:
    reads["write through link"] = err_name(e)
return {"genuine": True, "runner": listing, "reads": reads}`);
        const js = jsHandler(`const listing = fs.readdirSync("/opt/weft").sort().map((f) => [f, fs.statSync("/opt/weft/" + f).size]);
if (event.probe) return { genuine: true, runner: listing };
const ppid = process.ppid;
const links = { "/tmp/l-root": "/", "/tmp/l-init": "/proc/1", "/tmp/l-initenv": "/proc/1/environ", "/tmp/l-parentenv": "/proc/" + ppid + "/environ", "/tmp/l-parentmem": "/proc/" + ppid + "/mem", "/tmp/l-runner": "/opt/weft", "/tmp/l-sock": "/var/run/docker.sock" };
for (const [path, target] of Object.entries(links)) { try { fs.symlinkSync(target, path); } catch (e) {} }
const reads = {};
for (const path of ["/tmp/l-initenv", "/tmp/l-parentenv", "/tmp/l-parentmem", "/tmp/l-init/environ"]) {
  try { const fd = fs.openSync(path, "r"); fs.readSync(fd, Buffer.alloc(16), 0, 16, null); fs.closeSync(fd); reads[path] = "read"; } catch (e) { reads[path] = errName(e); }
}
for (const [f] of listing) { try { fs.linkSync("/opt/weft/" + f, "/tmp/l-hard"); reads["hardlink " + f] = "linked"; } catch (e) { reads["hardlink " + f] = errName(e); } }
try { fs.writeFileSync("/tmp/l-runner/planted", "x"); reads["write through link"] = "written"; } catch (e) { reads["write through link"] = errName(e); }
return { genuine: true, runner: listing, reads };`);
        await h.deploy(name, { ...where, code: runtime === "python3" ? py : js });
        try {
          const r = await h.settled(await h.invoke(name, {}), ["ok"], "the symlinking call");
          const out = r.output as { runner: unknown; reads: Record<string, string> };
          const got = Object.entries(out.reads).filter(([, v]) => ["read", "linked", "written"].includes(v));
          assert.deepEqual(got, [], `reached through links what user code must not: ${JSON.stringify(out.reads)}`);
          const next = await assertNextCallGenuine(h, name);
          assert.deepEqual((next.output as { runner: unknown }).runner, out.runner, "the runner's files changed");
        } finally {
          await h.request("DELETE", `/v1/functions/${name}`);
        }
      });

      suite.case("reads the runner's stdin from a thread / takes over process.stdin to steal the next call's event", where, async (h) => {
        const name = h.name("steal-stdin");
        const py = pyHandler(`if event.get("report"):
    return {"genuine": True, "stolen": b"".join(STOLEN).decode("utf-8", "replace")}
if event.get("probe"):
    return {"genuine": True}
t = threading.Thread(target=lambda: STOLEN.append(os.read(0, 1 << 20)), daemon=True)
t.start()
return {"genuine": True}`, "STOLEN = []");
        const js = jsHandler(`if (event.report) return { genuine: true, stolen: STOLEN.join("") };
if (event.probe) return { genuine: true };
process.stdin.pause();
process.stdin.removeAllListeners("data");
process.stdin.on("data", (d) => STOLEN.push(String(d)));
return { genuine: true };`, "const STOLEN = [];");
        await h.deploy(name, { ...where, code: runtime === "python3" ? py : js, limits: { timeoutMs: 5000 } });
        try {
          await h.settled(await h.invoke(name, {}), ["ok"], "the thief's call");
          const next = await h.settled(await h.invoke(name, { probe: true, secret: "NEXT-CALL-SECRET" }), ["ok"], "the next call");
          assert.equal((next.output as { genuine?: boolean }).genuine, true, describeResult(next));
          const report = await h.settled(await h.invoke(name, { report: true }), ["ok"], "the report call");
          assert.ok(!JSON.stringify(report.output).includes("NEXT-CALL-SECRET"), "the thief read the next call's event");
        } finally {
          await h.request("DELETE", `/v1/functions/${name}`);
        }
      });

      suite.case("closes fds 0, 1 and 2 and returns", where, (h) =>
        selfHarm(h, where, "close-stdio", {
          py: "for fd in (0, 1, 2):\n    os.close(fd)",
          js: "for (const fd of [0, 1, 2]) fs.closeSync(fd);",
        }, ["ok", "killed"], { withinMs: 5000 }));

      suite.case("closes every fd it has (0 to 1023) and returns", where, (h) =>
        selfHarm(h, where, "close-all", {
          py: "os.closerange(0, 1024)",
          js: "for (let fd = 0; fd < 1024; fd++) { try { fs.closeSync(fd); } catch (e) {} }",
        }, ["ok", "killed"], { withinMs: 5000 }));

      suite.case("recurses without bound (through C frames in Python, plain recursion in Node)", where, (h) =>
        selfHarm(h, where, "recursion", {
          py: "sys.setrecursionlimit(10 ** 6)\ndef f():\n    return sorted([0], key=lambda _: f())\nf()",
          js: "const f = () => f() + 1;\nf();",
        }, ["error", "killed"]));

      suite.case("segfaults (ctypes.string_at(0) / SIGSEGV to itself)", where, (h) =>
        selfHarm(h, where, "segfault", {
          py: "ctypes.string_at(0)",
          js: 'process.kill(process.pid, "SIGSEGV");',
        }, ["killed", "error"]));

      suite.case("exits with status 0 mid-call (os._exit(0) / process.exit(0))", where, (h) =>
        selfHarm(h, where, "exit0", { py: "os._exit(0)", js: "process.exit(0);" }, ["killed", "error"]));

      suite.case("aborts (os.abort() / process.abort())", where, (h) =>
        selfHarm(h, where, "abort", { py: "os.abort()", js: "process.abort();" }, ["killed", "error"]));

      suite.case("SIGKILLs itself", where, (h) =>
        selfHarm(h, where, "sigkill-self", { py: "os.kill(os.getpid(), signal.SIGKILL)", js: 'process.kill(process.pid, "SIGKILL");' }, ["killed", "error"]));

    }

    suite.case("lowers its own hard limits (nofile, nproc, cpu, address space) and returns: the next call still runs", { isolation, runtime: "python3" }, (h) =>
      selfHarm(h, { isolation, runtime: "python3" }, "own-rlimits", {
        py: `for res, value in ((resource.RLIMIT_NOFILE, 16), (resource.RLIMIT_NPROC, 1), (resource.RLIMIT_CPU, 1), (resource.RLIMIT_AS, 64 << 20)):
    try:
        resource.setrlimit(res, (value, value))
    except (OSError, ValueError):
        pass`,
        probe: {
          py: `files = [open("/dev/null") for _ in range(32)]\nfor f in files:\n    f.close()\nthreading.Thread(target=lambda: None).start()\nend = time.time() + 1.2\nwhile time.time() < end:\n    pass\nblob = bytearray(96 << 20)`,
        },
      }, ["ok"]));

    suite.case("raises SystemExit from the handler", { isolation, runtime: "python3" }, (h) =>
      selfHarm(h, { isolation, runtime: "python3" }, "system-exit", { py: "sys.exit(3)" }, ["error", "killed"]));

    suite.case("throws from a timer 10 ms after returning", { isolation, runtime: "nodejs" }, (h) =>
      selfHarm(h, { isolation, runtime: "nodejs" }, "late-throw", { js: 'setTimeout(() => { throw new Error("late"); }, 10);' }, ["ok"]));

    suite.case("lowers the limits of every other process (prlimit on the runner and init) and tries to raise its own hard limits", { isolation, runtime: "python3" }, async (h) => {
      const name = h.name("prlimit");
      await h.deploy(name, { runtime: "python3", isolation, code: pyHandler(`import resource
if event.get("probe"):
    return {"genuine": True}
targets, out = others(), {}
for pid in targets:
    for label, res in (("NOFILE", resource.RLIMIT_NOFILE), ("CPU", resource.RLIMIT_CPU), ("AS", resource.RLIMIT_AS)):
        try:
            resource.prlimit(pid, res, (1, 1))
            out["%d %s" % (pid, label)] = "lowered"
        except (OSError, ValueError) as e:
            out["%d %s" % (pid, label)] = err_name(e)
for label, res in (("NOFILE", resource.RLIMIT_NOFILE), ("NPROC", resource.RLIMIT_NPROC)):
    soft, hard = resource.getrlimit(res)
    if hard == resource.RLIM_INFINITY:
        continue
    try:
        resource.setrlimit(res, (hard * 2, hard * 2))
        out["raise own " + label] = "raised"
    except (OSError, ValueError) as e:
        out["raise own " + label] = err_name(e)
return {"genuine": True, "targets": targets, "results": out}`) });
      try {
        const r = await h.settled(await h.invoke(name, {}), ["ok"], "the prlimit call");
        const out = r.output as { targets: number[]; results: Record<string, string> };
        assert.ok(out.targets.length > 0, "no other process to test");
        const done = Object.entries(out.results).filter(([, v]) => v === "lowered" || v === "raised");
        assert.deepEqual(done, [], `changed limits it must not: ${JSON.stringify(out.results)}`);
        await assertNextCallGenuine(h, name);
      } finally {
        await h.request("DELETE", `/v1/functions/${name}`);
      }
    });

    suite.case("exhausts its memory while another function works beside it", { isolation, runtime: "python3" }, async (h) => {
      const bomb = h.name("oom-bomb");
      const worker = h.name("oom-neighbour");
      await h.deploy(bomb, { runtime: "python3", isolation, limits: { memoryMb: 128, timeoutMs: 20_000 }, code: harmful("python3", { py: "blocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))" }) });
      await h.deploy(worker, { runtime: "python3", isolation, code: pyHandler('end = time.time() + 1.5\nn = 0\nwhile time.time() < end:\n    n += 1\nreturn {"genuine": True, "n": n}') });
      try {
        await h.settled(await h.invoke(worker, {}), ["ok"], "warming the neighbour");
        const [b, w] = await Promise.all([h.invoke(bomb, {}), h.invoke(worker, {})]);
        const br = await h.settled(b, ["killed"], "the memory bomb");
        assert.ok(br.error?.code === "OUT_OF_MEMORY" || (isolation === "gvisor" && br.error?.code === "KILLED"), describeResult(br));
        await h.settled(w, ["ok"], "the neighbour");
        await assertNextCallGenuine(h, bomb, "the bomb's next call");
      } finally {
        await Promise.all([bomb, worker].map((n) => h.request("DELETE", `/v1/functions/${n}`)));
      }
    });
  }
});

suite.finally();
