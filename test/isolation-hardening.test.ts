// Defence in depth, proven from inside function containers exactly as the agent creates them, on runc and on
// gVisor: the seccomp filter is installed (gVisor applies it with --oci-seccomp), and io_uring, user
// namespaces and mknod are refused, while threads, fork and exec still work; on runc the worker runs batch-scheduled.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startAgentFixture, uniqueName, type AgentFixture } from "./fixtures/agent-fixture.js";

let f: AgentFixture;

before(async () => {
  // No stem cells: each probe gets a fresh container, created by the driver as for any function.
  f = await startAgentFixture({ WEFT_STEM_CELLS: "0" });
});

after(async () => {
  await f?.stop();
});

// Raw syscalls through libc's syscall(), each answered "ok" or with its errno's name.
const PROBE_PY = `import ctypes, errno, os, socket, stat, threading
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER = 0x10000000
SIGCHLD = 17

def errname():
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))

def raw(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return "ok" if r >= 0 else errname()

def attempt(fn):
    try:
        fn()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))

def clone_newuser():
    # Like fork, plus a new user namespace: the child, if any, leaves at once.
    r = libc.syscall(ctypes.c_long(56), ctypes.c_long(CLONE_NEWUSER | SIGCHLD), *[ctypes.c_long(0)] * 4)
    if r == 0:
        os._exit(0)
    if r < 0:
        return errname()
    os.waitpid(r, 0)
    return "ok"

def fork_exec_wait():
    pid = os.fork()
    if pid == 0:
        os.execv("/bin/sh", ["sh", "-c", "exit 7"])
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

def in_thread(fn):
    box = []
    t = threading.Thread(target=lambda: box.append(fn()))
    t.start()
    t.join()
    return box[0]

def handler(event, context):
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    params = ctypes.create_string_buffer(120)
    return {
        "seccomp": status["Seccomp"].strip(),
        "sched_policy": os.sched_getscheduler(0),
        "thread_sched_policy": in_thread(lambda: os.sched_getscheduler(threading.get_native_id())),
        "io_uring_setup": raw(425, 8, ctypes.addressof(params)),
        "io_uring_enter": raw(426, -1, 1, 0, 0, 0, 0),
        "io_uring_register": raw(427, -1, 0, 0, 0),
        "unshare_user": raw(272, CLONE_NEWUSER),
        "clone_newuser": clone_newuser(),
        "clone3": raw(435, 0, 0),
        "setns": raw(308, -1, 0),
        "mkfifo": attempt(lambda: os.mkfifo("/tmp/probe-fifo")),
        "mknod_char": attempt(lambda: os.mknod("/tmp/probe-null", stat.S_IFCHR | 0o600, os.makedev(1, 3))),
        "fifo_exists": os.path.exists("/tmp/probe-fifo"),
        "af_alg": attempt(lambda: socket.socket(38, socket.SOCK_SEQPACKET, 0).close()),
        "af_vsock": attempt(lambda: socket.socket(40, socket.SOCK_STREAM, 0).close()),
        # Each could have SIGCONT sent to the worker stopped between calls (x86_64 numbers, as above).
        "timer_create": raw(222, 1, ctypes.addressof(params), ctypes.addressof(params) + 64),
        "mq_notify": raw(244, -1, 0),
        "f_setsig": raw(72, 1, 10, 18),
        "f_getfl": raw(72, 1, 3),
        "thread": in_thread(lambda: "ran"),
        "fork_exec_wait": fork_exec_wait(),
    }
`;

// Node starts threads of its own (libuv, V8) through glibc's clone3 → clone fallback; a worker adds one more.
const PROBE_JS = `const { readFileSync } = require("node:fs");
const { Worker } = require("node:worker_threads");
exports.handler = async () => {
  const status = readFileSync("/proc/self/status", "utf8");
  const seccomp = /^Seccomp:\\s*(\\d+)/m.exec(status)[1];
  const fromWorker = await new Promise((resolve, reject) => {
    const w = new Worker("require('node:worker_threads').parentPort.postMessage(6 * 7)", { eval: true });
    w.once("message", resolve);
    w.once("error", reject);
  });
  return { seccomp, fromWorker };
};
`;

for (const isolation of ["runc", "gvisor"] as const) {
  describe(`seccomp on ${isolation}`, () => {
    test("a Python function runs under the filter: io_uring, user namespaces, mknod, POSIX timers, mq_notify and F_SETSIG are refused; threads, fork and exec work", async () => {
      const name = uniqueName(`seccomp-py-${isolation}`);
      await f.deploy(name, { runtime: "python3", isolation, code: PROBE_PY });
      const { result } = await f.invoke(name, {});
      assert.equal(result.status, "ok", JSON.stringify(result));
      const out = result.output as Record<string, unknown>;
      const detail = JSON.stringify(out);

      assert.equal(out.seccomp, "2", `a seccomp filter is installed: ${detail}`);
      // Without the filter io_uring_setup succeeds on runc (the host kernel's io_uring) and on gVisor, and
      // enter/register on fd -1 answer EBADF.
      for (const call of ["io_uring_setup", "io_uring_enter", "io_uring_register"]) {
        assert.ok(["EPERM", "ENOSYS"].includes(out[call] as string), `${call}: ${detail}`);
      }
      assert.equal(out.unshare_user, "EPERM", detail);
      assert.equal(out.clone_newuser, "EPERM", detail);
      assert.equal(out.setns, "EPERM", detail);
      assert.equal(out.clone3, "ENOSYS", `glibc falls back to clone only on ENOSYS: ${detail}`);
      assert.equal(out.mkfifo, "EPERM", detail);
      assert.equal(out.mknod_char, "EPERM", detail);
      assert.equal(out.fifo_exists, false);
      assert.equal(out.af_alg, "EPERM", detail);
      assert.equal(out.af_vsock, "EPERM", detail);
      // Without the filter timer_create (a zeroed sigevent: SIGEV_SIGNAL, signal 0) answers EINVAL or ok, mq_notify
      // on fd -1 EBADF, and F_SETSIG ok; fcntl's other commands stay.
      assert.equal(out.timer_create, "EPERM", detail);
      assert.equal(out.mq_notify, "EPERM", detail);
      assert.equal(out.f_setsig, "EPERM", detail);
      assert.equal(out.f_getfl, "ok", detail);
      assert.equal(out.thread, "ran");
      assert.equal(out.fork_exec_wait, 7);
      // The runner puts itself under SCHED_BATCH and the worker and its threads inherit it (runner main.go,
      // batchScheduled): woken, they never preempt the agent. gVisor schedules inside the sandbox on its own.
      if (isolation === "runc") {
        assert.equal(out.sched_policy, 3, `the worker runs under SCHED_BATCH (3): ${detail}`);
        assert.equal(out.thread_sched_policy, 3, `its threads too: ${detail}`);
      } else {
        assert.ok([0, 3].includes(out.sched_policy as number), `a normal policy inside the sandbox: ${detail}`);
      }
    });

    test("a Node function runs under the filter, with its threads and a worker", async () => {
      const name = uniqueName(`seccomp-js-${isolation}`);
      await f.deploy(name, { runtime: "nodejs", isolation, code: PROBE_JS });
      const { result } = await f.invoke(name, {});
      assert.equal(result.status, "ok", JSON.stringify(result));
      assert.deepEqual(result.output, { seccomp: "2", fromWorker: 42 });
    });
  });
}
