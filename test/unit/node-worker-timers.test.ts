// The Node worker's judgement of what a call left behind (deploy/images/nodejs/runtime/worker.js, leftovers),
// run in the host's node on the worker's own code over its real frame protocol (fds 3 and 4). A call that left a
// timer armed is judged at once: waiting further event-loop turns let a due timer run before the answer was
// written, and one that never yields (the hostile "microtask loop 50 ms after returning" case, on a CPU starved
// for 50 ms) kept the answer from ever being written, so the call timed out.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Readable, Writable } from "node:stream";

const SOURCE = fileURLToPath(new URL("../../deploy/images/nodejs/runtime/worker.js", import.meta.url));
// A CommonJS script, as in its image: outside this package (whose "type" is module).
let dir = "";
let WORKER = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "weft-node-worker-"));
  WORKER = join(dir, "worker.js");
  await copyFile(SOURCE, WORKER);
});
after(() => rm(dir, { recursive: true, force: true }));

interface Frame {
  t: string;
  [k: string]: unknown;
}

/** A worker on the host: send frames on its fd 3, read the headers it writes on fd 4. */
function startWorker(): { child: ChildProcess; send: (h: object, payload?: string) => void; next: (t: string, ms: number) => Promise<Frame> } {
  const child = spawn(process.execPath, [WORKER], { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"] });
  const ctl = child.stdio[3] as Writable;
  const res = child.stdio[4] as Readable;
  const frames: Frame[] = [];
  const waiters: Array<() => void> = [];
  let text = "";
  res.on("data", (d: Buffer) => {
    text += d.toString("latin1");
    // Payloads (output, logs) follow a header; a header is the only line that parses as a frame.
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      try {
        const f = JSON.parse(line) as Frame;
        if (f && typeof f.t === "string") frames.push(f);
      } catch {
        // a payload line
      }
    }
    for (const w of waiters.splice(0)) w();
  });
  const send = (h: object, payload = "") => {
    ctl.write(`${JSON.stringify(h)}\n`);
    if (payload) ctl.write(payload);
  };
  const next = (t: string, ms: number) =>
    new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${t} frame within ${ms} ms (frames: ${JSON.stringify(frames)})`)), ms);
      const look = () => {
        const i = frames.findIndex((f) => f.t === t);
        if (i >= 0) {
          clearTimeout(timer);
          resolve(frames.splice(i, 1)[0]!);
        } else waiters.push(look);
      };
      look();
    });
  return { child, send, next };
}

async function callOnce(code: string): Promise<Frame> {
  const w = startWorker();
  try {
    await w.next("up", 10_000);
    w.send({ t: "init", codeBytes: Buffer.byteLength(code) }, code);
    const init = await w.next("init_ok", 10_000);
    assert.equal(init.t, "init_ok");
    w.send({ t: "run", id: "1", ctx: {}, eventBytes: 2 }, "{}");
    return await w.next("result", 5000);
  } finally {
    w.child.kill("SIGKILL");
  }
}

test("a call that armed a timer which never yields once due is answered, dirty, before the timer can run", async () => {
  // The handler spins past the timer's due time before returning: the next timers phase would run it.
  const frame = await callOnce(`exports.handler = async () => {
  setTimeout(() => { for (;;) {} }, 5);
  const end = Date.now() + 30;
  while (Date.now() < end) {}
  return { returned: true };
};`);
  assert.equal(frame.ok, true, JSON.stringify(frame));
  assert.match(String(frame.dirty), /still alive: Timeout/);
});

test("a 0 ms timeout the call leaves is waited for; the call is clean once it ran", async () => {
  const frame = await callOnce(`exports.handler = async () => {
  setTimeout(() => {}, 0);
  return 1;
};`);
  assert.equal(frame.ok, true, JSON.stringify(frame));
  assert.equal(frame.dirty, undefined, JSON.stringify(frame));
});

test("an interval the call leaves is reported", async () => {
  const frame = await callOnce(`exports.handler = async () => {
  setInterval(() => {}, 1000);
  return 1;
};`);
  assert.match(String(frame.dirty), /still alive: Timeout/);
});
