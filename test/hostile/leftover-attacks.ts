// The leftover attacks, as data: each starts work by some means its runtime offers and returns at once. The
// leftover cases run them as written (leftovers.test.ts), and through the TypeScript bundle build (typescript.test.ts).
import { pyHandler } from "./kit-python.js";
import { JS_KIT, jsHandler } from "./kit-node.js";
import type { Runtime } from "./suite.js";

export interface Leak {
  py?: string;
  js?: string;
  /** Extra fields of the function's definition (e.g. concurrency). */
  spec?: Record<string, unknown>;
  /** Python code at module level (it runs at init, on the main thread). */
  pre?: string;
}

/** A function that starts `leak` on {start: true} and reports what ran since `afterMs` on {probe: true}. */
export function leaker(runtime: Runtime, leak: string, pre = ""): string {
  if (runtime === "python3") {
    // The probe lets 50 ms pass first: work hidden from the runner shows itself once the worker runs again.
    return pyHandler(`if event.get("probe"):
    time.sleep(0.05)
    return dict(leak_probe(event["afterMs"]), genuine=True)
${leak}
return {"started": True, "containerId": container_id()}`, `import subprocess, multiprocessing\nKEEP = []\n${pre}`);
  }
  return jsHandler(`if (event.probe) {
  await new Promise((r) => setTimeout(r, 50));
  return { ...leakProbe(event.afterMs), genuine: true };
}
${leak}
return { started: true, containerId: containerId() };`, "const KEEP = [];");
}

const FORK_CHILD = (body: string) => `pid = os.fork()
if pid == 0:
    try:
${body.replace(/^/gm, "        ")}
    finally:
        os._exit(0)`;

export const LEFTOVER_ATTACKS: Array<{ attack: string; label: string; leak: Leak }> = [
  {
    attack: "starts a spinning thread (Python) / worker thread (Node) and returns",
    label: "thread",
    leak: {
      py: "threading.Thread(target=spin_ticks, daemon=True).start()",
      js: String.raw`KEEP.push(new (require("worker_threads").Worker)('const fs = require("fs"); for (;;) { fs.appendFileSync("/tmp/leak.log", Date.now() + "\n"); fs.writeSync(2, "LEAKED-WORK\n"); const e = Date.now() + 4; while (Date.now() < e) {} }', { eval: true }));`,
    },
  },
  {
    attack: "arms a timer that fires 100 ms after the answer, mutates the function's state and spins",
    label: "timer",
    leak: {
      py: 'threading.Timer(0.1, lambda: (HIJACK.update(at=time.time() * 1000), spin_ticks())).start()',
      js: "setTimeout(() => { HIJACK.at = Date.now(); setInterval(() => { tick(); busy(4); }, 1); }, 100);",
    },
  },
  {
    attack: "arms an interval timer with a signal handler that ticks (setitimer + SIGALRM: no thread, no process)",
    label: "itimer",
    leak: { py: 'signal.signal(signal.SIGALRM, lambda *_: (tick(), spin_for(0.004)))\nsignal.setitimer(signal.ITIMER_REAL, 0.005, 0.005)' },
  },
  {
    attack: "arms setitimer with a SIGALRM handler in a function of concurrency 2 (calls run on a thread pool)",
    label: "itimer-pool",
    leak: {
      pre: "signal.signal(signal.SIGALRM, lambda *_: (tick(), spin_for(0.004)))",
      py: "signal.setitimer(signal.ITIMER_REAL, 0.005, 0.005)",
      spec: { concurrency: 2 },
    },
  },
  {
    // The seccomp filter refuses timer_create (test/isolation-hardening.test.ts); under a profile that allows it, the
    // worker's /proc/self/timers check and the freeze between calls hold the line instead.
    attack: "arms a POSIX timer (timer_create through ctypes, if the filter lets it) with a SIGUSR1 handler, which no itimer reset sees",
    label: "posix-timer",
    leak: {
      py: `class SigEvent(ctypes.Structure):
    _fields_ = [("value", ctypes.c_void_p), ("signo", ctypes.c_int), ("notify", ctypes.c_int), ("pad", ctypes.c_byte * 48)]
class ITimerSpec(ctypes.Structure):
    _fields_ = [("interval_s", ctypes.c_long), ("interval_ns", ctypes.c_long), ("value_s", ctypes.c_long), ("value_ns", ctypes.c_long)]
signal.signal(signal.SIGUSR1, lambda *_: (tick(), spin_for(0.004)))
timer = ctypes.c_void_p()
if LIBC.timer_create(1, ctypes.byref(SigEvent(None, signal.SIGUSR1, 0)), ctypes.byref(timer)) == 0:
    assert LIBC.timer_settime(timer, 0, ctypes.byref(ITimerSpec(0, 5000000, 0, 5000000)), None) == 0`,
    },
  },
  {
    // Without the filter's F_SETSIG rule the runner's own read of the stray output, after it stopped the worker and
    // checked it, sends the worker SIGCONT: the thread started at init (so no extra thread) spins on after the answer.
    attack: "has SIGCONT sent to itself whenever its stdout is read (F_SETOWN, F_SETSIG, O_ASYNC), with a thread from init writing on",
    label: "fsetsig",
    leak: {
      pre: `def keep_writing():
    while True:
        os.write(1, b"w" * 512)
        spin_for(0.001)
threading.Thread(target=keep_writing, daemon=True).start()`,
      py: `F_GETFL, F_SETFL, F_SETOWN, F_SETSIG = 3, 4, 8, 10
LIBC.fcntl(1, F_SETOWN, os.getpid())
if LIBC.fcntl(1, F_SETSIG, signal.SIGCONT) == 0:
    LIBC.fcntl(1, F_SETFL, LIBC.fcntl(1, F_GETFL) | os.O_ASYNC)`,
    },
  },
  {
    // Nothing reads the runner's end of the control pipe any more while the worker lives on, blocked on a pipe of its
    // own: epoll reports the runner's end as broken at every turn, and the runner used to spin on it until the next call.
    attack: "swaps its control pipe (fd 3) for a pipe of its own and lives on, with nothing reading the runner's end",
    label: "ctl-swap",
    leak: { py: "r, w = os.pipe()\nKEEP.append(w)\nos.dup2(r, 3)" },
  },
  {
    attack: "hides an interval from async-resource tracking: a microtask chain creates it once the call has ended",
    label: "hidden-interval",
    leak: { js: "let p = Promise.resolve();\nfor (let i = 0; i < 200; i++) p = p.then(() => {});\np.then(() => setInterval(() => { tick(); busy(4); }, 5));" },
  },
  {
    attack: "starts a setImmediate loop",
    label: "immediate",
    leak: { js: "(function loop() { tick(); busy(2); setImmediate(loop); })();" },
  },
  {
    attack: "starts a microtask loop that never yields to the event loop, 50 ms after returning",
    label: "microtask",
    leak: { js: "setTimeout(async () => { for (;;) { tick(); busy(2); await null; } }, 50);" },
  },
  {
    attack: "starts a child process that ticks",
    label: "child",
    leak: {
      py: FORK_CHILD("spin_ticks()"),
      js: `KEEP.push(cp.spawn("sh", ["-c", SH_TICK], { stdio: ["ignore", "inherit", "inherit"] }));`,
    },
  },
  {
    attack: "starts a grandchild in its own session (double fork + setsid), orphaned to init",
    label: "grandchild",
    leak: {
      py: `${FORK_CHILD("os.setsid()\nif os.fork() == 0:\n    spin_ticks()")}\nos.waitpid(pid, 0)`,
      js: `cp.spawn("sh", ["-c", "(trap '' HUP TERM INT; " + SH_TICK + ") &"], { stdio: ["ignore", "inherit", "inherit"], detached: true });`,
    },
  },
  {
    attack: "leaves a fork bomb whose every process keeps re-forking, grown to the pids limit before it answers",
    label: "fork-bomb",
    leak: {
      py: `${FORK_CHILD("while True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n    tick()")}\ntime.sleep(0.3)`,
      js: `KEEP.push(cp.spawn("sh", ["-c", "b() { b & b & " + SH_TICK + "; }; b"], { stdio: ["ignore", "inherit", "inherit"] }));\nawait new Promise((r) => setTimeout(r, 300));`,
    },
  },
  {
    attack: "leaves a process chain that forks and exits every few ms (its pid never holds still for a sweep)",
    label: "chain",
    leak: {
      py: `for _ in range(4):\n${FORK_CHILD("while True:\n    tick()\n    if os.fork() != 0:\n        os._exit(0)").replace(/^/gm, "    ")}`,
      js: `fs.writeFileSync("/tmp/chain.sh", "date +%s%3N >> /tmp/leak.log; echo LEAKED-WORK >&2; sh /tmp/chain.sh &\\n");
cp.spawn("sh", ["/tmp/chain.sh"], { stdio: ["ignore", "inherit", "inherit"], detached: true });`,
    },
  },
  {
    attack: "leaves a process that ignores SIGTERM/SIGHUP/SIGINT, leaves the session and takes the runner's name",
    label: "disguised",
    leak: {
      py: FORK_CHILD(`os.setsid()
for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
    signal.signal(s, signal.SIG_IGN)
LIBC.prctl(15, b"python3", 0, 0, 0)
spin_ticks()`),
      js: String.raw`cp.spawn(process.execPath, ["-e", 'for (const s of ["SIGTERM","SIGHUP","SIGINT","SIGUSR1","SIGUSR2"]) process.on(s, () => {}); const fs = require("fs"); for (;;) { fs.appendFileSync("/tmp/leak.log", Date.now() + "\n"); fs.writeSync(2, "LEAKED-WORK\n"); const e = Date.now() + 4; while (Date.now() < e) {} }'], { argv0: "node", detached: true, stdio: ["ignore", "inherit", "inherit"] });`,
    },
  },
  {
    attack: "leaves a multiprocessing pool working",
    label: "mp-pool",
    leak: { py: "pool = multiprocessing.Pool(2)\nKEEP.append(pool)\npool.apply_async(spin_ticks)\npool.apply_async(spin_ticks)" },
  },
  {
    attack: "leaves a child that forges result frames for the next call's run id, with every token it can find",
    label: "forger",
    leak: {
      py: `data = frame_lines(forged_frames(RUN_IDS[:4]), unique(env_tokens() + memory_tokens(), 8))
${FORK_CHILD("while True:\n    tick()\n    spray(data)\n    time.sleep(0.1)")}`,
      js: `cp.spawn(process.execPath, ["-e", ${JSON.stringify(`${JS_KIT}
const data = frameLines(forgedFrames(RUN_IDS.slice(0, 4)), JSON.parse(process.argv[1]));
setInterval(() => { tick(); spray(data); }, 100);`)}, JSON.stringify(unique([...envTokens(), ...memoryTokens()], 8))], { detached: true, stdio: ["ignore", "inherit", "inherit"] });`,
    },
  },
];
