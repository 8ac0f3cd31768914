// Hostile functions on runc and gVisor: whatever the code does, it harms nothing outside its container,
// the invocation ends as data (never a hung or crashed agent), and the agent goes on serving.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { LIMITS } from "../shared/limits.js";
import { startAgentFixture, uniqueName, type AgentFixture } from "./fixtures/agent-fixture.js";
import { AgentContainers } from "./harness/containers.js";
import { eventually } from "./harness/eventually.js";

let f: AgentFixture;

before(async () => {
  // No stem cells: every hostile function gets a fresh container of its own.
  f = await startAgentFixture({ WEFT_STEM_CELLS: "0", WEFT_PIDS_LIMIT: "128" });
});

after(async () => {
  await f?.stop();
});

const py = (body: string) => `import os, sys, socket\ndef handler(event, context):\n${body.replace(/^/gm, "    ")}\n`;

for (const isolation of ["runc", "gvisor"] as const) {
  describe(`hostile code on ${isolation}`, () => {
    test("no network: connecting anywhere fails; only loopback exists", async () => {
      const name = uniqueName(`net-${isolation}`);
      await f.deploy(name, {
        runtime: "python3",
        isolation,
        code: py(`out = {}
for host, port in [("1.1.1.1", 53), ("172.17.0.1", ${f.nats.port}), ("127.0.0.1", ${f.nats.port})]:
    try:
        socket.create_connection((host, port), timeout=1).close()
        out[host] = "connected"
    except OSError as e:
        out[host] = type(e).__name__
out["interfaces"] = sorted(n for _, n in socket.if_nameindex())
return out`),
      });
      const res = await f.invoke(name, {});
      assert.equal(res.result.status, "ok", JSON.stringify(res.result));
      const out = res.result.output as Record<string, unknown>;
      for (const host of ["1.1.1.1", "172.17.0.1", "127.0.0.1"]) assert.notEqual(out[host], "connected", host);
      assert.deepEqual(out.interfaces, ["lo"]);
    });

    test("runs as nobody and cannot write outside /tmp", async () => {
      const name = uniqueName(`fs-${isolation}`);
      await f.deploy(name, {
        runtime: "python3",
        isolation,
        code: py(`out = {"uid": os.getuid()}
for path in ["/opt/weft/runner.py", "/etc/passwd", "/usr/bin/x", "/x"]:
    try:
        open(path, "a").close()
        out[path] = "written"
    except OSError as e:
        out[path] = type(e).__name__
with open("/tmp/ok", "w") as fh:
    fh.write("fine")
out["/tmp/ok"] = open("/tmp/ok").read()
return out`),
      });
      const res = await f.invoke(name, {});
      assert.equal(res.result.status, "ok", JSON.stringify(res.result));
      const out = res.result.output as Record<string, unknown>;
      assert.equal(out.uid, 65534);
      for (const path of ["/opt/weft/runner.py", "/etc/passwd", "/usr/bin/x", "/x"]) assert.notEqual(out[path], "written", path);
      assert.equal(out["/tmp/ok"], "fine");
    });

    test("a fork bomb is contained by the pids limit and ended by the timeout", async () => {
      const name = uniqueName(`fork-${isolation}`);
      await f.deploy(name, {
        runtime: "python3",
        isolation,
        limits: { timeoutMs: 2000, cpus: 0.5 },
        code: py(`if event.get("bomb"):
    while True:
        try:
            os.fork()
        except OSError:
            pass
return "alive"`),
      });
      const bomb = await f.invoke(name, { bomb: true });
      // runc: the bomb spins at the pids limit until the timeout kills it. gVisor: its sandbox cannot get the
      // host threads it needs past the limit and dies first. Either way it ends, and only its container goes.
      assert.ok(["timeout", "killed"].includes(bomb.result.status), bomb.result.status);
      if (isolation === "runc") assert.equal(bomb.result.status, "timeout");
      const next = await f.invoke(name, {});
      assert.equal(next.result.status, "ok");
      assert.equal(next.result.output, "alive");
    });

    test("counting processes: forking stops at the pids limit", async () => {
      const name = uniqueName(`pids-${isolation}`);
      await f.deploy(name, {
        runtime: "python3",
        isolation,
        code: py(`import time
n = 0
try:
    while n < 10000:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError as e:
    return {"forked": n, "error": type(e).__name__}
return {"forked": n}`),
      });
      const res = await f.invoke(name, {});
      if (isolation === "gvisor" && res.result.status === "killed") {
        // The sandbox itself died: contained, not served. Debian's 2022 runsc hits the pids limit (its own
        // threads count against it); the current runsc fills its memory with the forked copies first.
        assert.ok(["KILLED", "OUT_OF_MEMORY"].includes(res.result.error?.code ?? ""), JSON.stringify(res.result));
        return;
      }
      assert.equal(res.result.status, "ok", JSON.stringify(res.result));
      const out = res.result.output as { forked: number; error?: string };
      assert.ok(out.forked < 128, `forked ${out.forked} processes`);
      assert.equal(out.error, "BlockingIOError");
      const again = await f.invoke(name, {});
      assert.equal(again.result.coldStart, true, "a container whose call left processes running is retired");
      assert.ok((again.result.output as { forked: number }).forked > out.forked / 2, "the previous call's processes were ended");
    });

    test("a memory bomb is killed as out of memory", async () => {
      const name = uniqueName(`oom-${isolation}`);
      await f.deploy(name, {
        runtime: "python3",
        isolation,
        limits: { memoryMb: 128 },
        code: py(`blocks = []
while True:
    blocks.append(bytearray(16 * 1024 * 1024))`),
      });
      const res = await f.invoke(name, {});
      assert.equal(res.result.status, "killed", JSON.stringify(res.result));
      assert.ok(["OUT_OF_MEMORY", "KILLED"].includes(res.result.error?.code ?? ""), res.result.error?.code);
      if (isolation === "runc") assert.equal(res.result.error?.code, "OUT_OF_MEMORY");
    });

    test("runaway output is cut at the log limit, costs the agent nothing, and the container serves on", async () => {
      const name = uniqueName(`flood-${isolation}`);
      await f.deploy(name, {
        runtime: "python3",
        isolation,
        code: py(`chunk = b"x" * (1024 * 1024)
left = 64 * len(chunk)
while left > 0:
    left -= os.write(1, chunk[: min(left, len(chunk))])
return "finished"`),
      });
      const res = await f.invoke(name, {});
      assert.equal(res.result.status, "ok", JSON.stringify({ ...res.result, logs: res.result.logs.length }));
      assert.equal(res.result.output, "finished");
      assert.equal(res.result.logsTruncated, true);
      assert.ok(Buffer.byteLength(res.result.logs) <= LIMITS.logBytes, `${Buffer.byteLength(res.result.logs)} bytes of logs`);
      const again = await f.invoke(name, {});
      assert.equal(again.result.status, "ok");
      assert.equal(again.result.coldStart, false, "stray output alone does not retire a container");
    });

    test("a handler that exits the process ends as killed; the next call gets a new container", async () => {
      const name = uniqueName(`exit-${isolation}`);
      await f.deploy(name, { runtime: "nodejs", isolation, code: `exports.handler = async (e) => { if (e.exit) process.exit(3); return "ok" }` });
      const res = await f.invoke(name, { exit: true });
      assert.equal(res.result.status, "killed");
      assert.equal(res.result.error?.code, "KILLED");
      const next = await f.invoke(name, {});
      assert.equal(next.result.output, "ok");
      assert.equal(next.result.coldStart, true);
    });

    // The worker leads a session of its own, so it can signal nothing it did not start (SIGCONT crosses uids within
    // a session). gVisor hangs up every member of an orphaned process group that has a stopped member whenever one of
    // its processes is reaped, and the worker's group is always orphaned: a call can hang itself up, only itself.
    test("a child that stops itself while another ends: Linux carries on, gVisor hangs up that call alone", async () => {
      const name = uniqueName(`hangup-${isolation}`);
      await f.deploy(name, {
        runtime: "python3",
        isolation,
        code: py(`import signal
if event.get("plain"):
    return "plain"
stopped = os.fork()
if stopped == 0:
    os.kill(os.getpid(), signal.SIGSTOP)
    os._exit(0)
os.waitpid(stopped, os.WUNTRACED)
ended = os.fork()
if ended == 0:
    os._exit(0)
os.waitpid(ended, 0)
os.kill(stopped, signal.SIGKILL)
os.waitpid(stopped, 0)
return {"sessionLeader": os.getsid(0) == os.getpid()}`),
      });
      const res = await f.invoke(name, {});
      if (isolation === "runc") {
        assert.equal(res.result.status, "ok", JSON.stringify(res.result));
        assert.deepEqual(res.result.output, { sessionLeader: true });
      } else {
        assert.equal(res.result.status, "killed", JSON.stringify(res.result));
        assert.match(res.result.error?.message ?? "", /signal 1 /, JSON.stringify(res.result));
      }
      const next = await f.invoke(name, { plain: true });
      assert.equal(next.result.status, "ok", JSON.stringify(next.result));
      assert.equal(next.result.output, "plain");
    });

    test("code whose loading leaves a process running fails to load (INIT_ERROR, final), never as the platform's fault", async () => {
      const name = uniqueName(`init-left-${isolation}`);
      await f.deploy(name, { runtime: "python3", isolation, code: `import subprocess
KEEP = subprocess.Popen(["sleep", "600"])
def handler(event, context):
    return 1
` });
      for (const attempt of [1, 2]) {
        const res = await f.invoke(name, {});
        assert.equal(res.result.status, "error", `call ${attempt}: ${JSON.stringify(res.result)}`);
        assert.equal(res.result.error?.code, "INIT_ERROR", JSON.stringify(res.result));
        assert.match(res.result.error?.message ?? "", /left work behind: .*process/, JSON.stringify(res.result));
        assert.equal((await f.finalRecord(res.result.invocationId)).attempt, 1, "tried once: an init error is final");
      }
    });

    test("the function's process killed between calls: the container goes at once, and no call is blamed for it", async () => {
      const name = uniqueName(`idle-kill-${isolation}`);
      await f.deploy(name, { runtime: "python3", isolation, code: py(`return {"pid": os.getpid()}`) });
      const containers = new AgentContainers(f.agentId);
      const killWorker = async (): Promise<string> => {
        const first = await f.invoke(name, {});
        assert.equal(first.result.status, "ok", JSON.stringify(first.result));
        const [id, ...others] = await containers.ids(name);
        assert.ok(id && others.length === 0, `one container expected for ${name}`);
        const code = await containers.exec(id, ["sh", "-c", `kill -KILL ${(first.result.output as { pid: number }).pid}`]);
        // 137: the runner, seeing the worker gone, ended every other process of the container, this shell too.
        assert.ok(code === 0 || code === 137, `the kill exited with ${code}`);
        return id;
      };
      // Nothing asked: the runner tells the agent, which removes the container.
      const idle = await killWorker();
      await eventually(async () => (!(await containers.ids(name, true)).includes(idle) ? true : undefined), "the broken container removed with no call", 20_000);
      const after = await f.invoke(name, {});
      assert.equal(after.result.status, "ok", JSON.stringify(after.result));
      assert.equal(after.result.coldStart, true);
      // A call sent straight after the kill either finds the container gone, or is refused by it and runs elsewhere.
      const raced = await killWorker();
      const next = await f.invoke(name, {});
      assert.equal(next.result.status, "ok", JSON.stringify(next.result));
      assert.ok(!(await containers.ids(name)).includes(raced), "the broken container still serves");
    });
  });
}

test("the agent survived all of it", async () => {
  assert.equal(f.agent.status().state, "running");
  for (const isolation of ["runc", "gvisor"] as const) {
    const name = uniqueName(`after-${isolation}`);
    await f.deploy(name, { runtime: "nodejs", isolation, code: `exports.handler = async (e) => ({ hello: e.name })` });
    const res = await f.invoke(name, { name: "still here" });
    assert.deepEqual(res.result.output, { hello: "still here" });
  }
});
