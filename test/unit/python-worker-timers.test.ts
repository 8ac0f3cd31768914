// The Python worker's check for timers a call left armed (deploy/images/python3/runtime/worker.py,
// leftover_timers), run in the host's python3 on the worker's own code. Where calls run on a thread pool the
// worker cannot reset interval timers between calls, so this check is what retires a container whose call
// left a SIGALRM ticking. Linux re-arms a periodic ITIMER_REAL only when a thread takes its SIGALRM: while
// the signal waits (its thread not yet scheduled, on a loaded machine) getitimer reads a value of 0. The
// hostile case "arms setitimer with a SIGALRM handler in a function of concurrency 2" failed intermittently in
// CI from that window; here the window is held open by blocking SIGALRM, so the check meets it every time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { inPythonWorker } from "./python-worker-host.js";

/** Loads the worker as a module (fds 3 and 4 exist, as under the runner), runs `body`, parses what it prints. */
async function inWorker(body: string): Promise<any> {
  return JSON.parse(await inPythonWorker(body, { imports: "json, signal, time" }));
}

test("an interval timer whose SIGALRM waits to be taken (getitimer reads 0) is still seen as armed", async () => {
  const r = await inWorker(`signal.signal(signal.SIGALRM, lambda *_: None)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
signal.setitimer(signal.ITIMER_REAL, 0.005, 0.005)
time.sleep(0.03)
value, interval = signal.getitimer(signal.ITIMER_REAL)
print(json.dumps({"value": value, "interval": interval, "dirty": w.leftover_timers()}))`);
  assert.equal(r.value, 0, `the kernel's value while SIGALRM is pending: ${JSON.stringify(r)}`);
  assert.equal(r.interval, 0.005);
  assert.match(r.dirty, /interval timer armed/);
});

test("a one-shot timer that fired but whose signal was not yet taken is seen as a pending signal", async () => {
  const r = await inWorker(`signal.signal(signal.SIGALRM, lambda *_: None)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
signal.setitimer(signal.ITIMER_REAL, 0.005)
time.sleep(0.03)
print(json.dumps({"timer": signal.getitimer(signal.ITIMER_REAL), "dirty": w.leftover_timers()}))`);
  assert.deepEqual(r.timer, [0, 0]);
  assert.match(r.dirty, /signal pending \(SIGALRM\)/);
});

test("an armed interval timer is seen; a cleared one, or none, leaves the worker clean", async () => {
  const r = await inWorker(`signal.signal(signal.SIGALRM, lambda *_: None)
signal.setitimer(signal.ITIMER_REAL, 10, 10)
armed = w.leftover_timers()
signal.setitimer(signal.ITIMER_REAL, 0)
print(json.dumps({"armed": armed, "cleared": w.leftover_timers()}))`);
  assert.match(r.armed, /interval timer armed/);
  assert.equal(r.cleared, "");
});

test("a POSIX timer is seen at every call while it exists (the timers file stays open), and not once it is deleted", async () => {
  const r = await inWorker(`import ctypes, ctypes.util, os
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
timer = ctypes.c_void_p()
assert libc.timer_create(1, None, ctypes.byref(timer)) == 0  # CLOCK_MONOTONIC, SIGALRM by default; never armed
first = w.leftover_timers()
fds = len(os.listdir("/proc/self/fd"))
second = w.leftover_timers(itimers=False)
same_fds = len(os.listdir("/proc/self/fd")) == fds
assert libc.timer_delete(timer) == 0
print(json.dumps({"first": first, "second": second, "sameFds": same_fds, "deleted": w.leftover_timers()}))`);
  assert.match(r.first, /POSIX timer armed/);
  assert.match(r.second, /POSIX timer armed/);
  assert.equal(r.sameFds, true, "no fd opened per call");
  assert.equal(r.deleted, "");
});
