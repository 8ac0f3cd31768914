// Weft Node.js worker (CommonJS, Node >= 18): runs the user's code as uid 65534 under weft-runner (the
// trusted process that holds the agent channel). Frames in on fd 3, frames out on fd 4, the user's stray
// output on fd 1 and 2; see deploy/images/PROTOCOL.md. The runner re-checks every frame we write.
"use strict";
const fs = require("fs");
const net = require("net");
const path = require("path");
const Module = require("module");
const { AsyncLocalStorage, createHook } = require("async_hooks");

const CTL_FD = 3;
const RES_FD = 4;
const MAX_HEADER = 64 * 1024;

try {
  fs.writeFileSync("/proc/self/oom_score_adj", "1000"); // under memory pressure the kernel picks us, not the runner
} catch {
  // not on every kernel
}

const logStore = new AsyncLocalStorage();
let handler = null;
let logLimit = 262144;
let outputLimit = 6 * 1024 * 1024;

/**
 * Async resources that can run code later (timers, immediates, pending requests, sockets, child processes,
 * workers, watchers, signal handlers) a call creates and that are still alive once it has answered: such a
 * call left work behind, and the runner retires the container. Resources that only wait for garbage
 * collection (a closed FileHandle, a zlib context) run nothing and are not counted.
 */
const WATCHED = new Set([
  "Timeout", "Immediate", "PROCESSWRAP", "WORKER", "MESSAGEPORT", "TCPWRAP", "TCPSERVERWRAP", "TCPCONNECTWRAP",
  "PIPEWRAP", "PIPESERVERWRAP", "PIPECONNECTWRAP", "UDPWRAP", "UDPSENDWRAP", "FSEVENTWRAP", "STATWATCHER",
  "SIGNALWRAP", "TTYWRAP", "FSREQCALLBACK", "FSREQPROMISE", "GETADDRINFOREQWRAP", "GETNAMEINFOREQWRAP",
  "QUERYWRAP", "WRITEWRAP", "SHUTDOWNWRAP", "RANDOMBYTESREQUEST", "PBKDF2REQUEST", "SCRYPTREQUEST",
  "KEYGENREQUEST", "ZLIB_ASYNC",
]);
const callResources = new Map();
/** The call's timers (Timeout objects), to tell one still armed from one that fired or was cleared. */
const callTimers = new Map();
let tracking = 0;
/** Set while the worker creates its own immediate (the leftovers check), which is not the call's. */
let ownWork = false;
createHook({
  init(id, type, _trigger, resource) {
    if (tracking > 0 && !ownWork && WATCHED.has(type)) {
      callResources.set(id, type);
      if (type === "Timeout") callTimers.set(id, resource);
    }
  },
  destroy(id) {
    callResources.delete(id);
    callTimers.delete(id);
  },
}).enable();

const writeSync = fs.writeSync;
function writeFrame(header, ...payload) {
  const data = Buffer.concat([Buffer.from(JSON.stringify(header) + "\n"), ...payload]);
  let off = 0;
  while (off < data.length) off += writeSync(RES_FD, data, off);
}

/** What one invocation printed, cut at the runner-given byte limit. */
class LogBuffer {
  constructor(limit) {
    this.parts = [];
    this.size = 0;
    this.limit = limit;
    this.truncated = false;
  }
  add(chunk, encoding) {
    if (this.truncated) return;
    let data = Buffer.isBuffer(chunk) || chunk instanceof Uint8Array
      ? Buffer.from(chunk)
      : Buffer.from(String(chunk), typeof encoding === "string" && Buffer.isEncoding(encoding) ? encoding : "utf8");
    const room = this.limit - this.size;
    if (data.length > room) {
      data = data.subarray(0, room);
      this.truncated = true;
    }
    this.parts.push(data);
    this.size += data.length;
  }
  bytes() {
    return Buffer.concat(this.parts);
  }
}

/** console.log and friends write through these; inside an invocation the text goes to its log buffer. */
function captureStream(stream) {
  const original = stream.write.bind(stream);
  stream.write = function write(chunk, encoding, callback) {
    const buf = logStore.getStore();
    if (!buf) return original(chunk, encoding, callback);
    buf.add(chunk, encoding);
    const cb = typeof encoding === "function" ? encoding : callback;
    if (typeof cb === "function") process.nextTick(cb);
    return true;
  };
}

// An error travels in a frame header (at most 64 KiB on every side): its parts are cut to the runner's own bounds,
// then further until its JSON fits, so a long message (or one of control characters, six bytes each as JSON) is
// still the handler's error and not a broken frame.
const MAX_ERROR_TYPE = 200;
const MAX_ERROR_MESSAGE = 16 * 1024;
const MAX_ERROR_STACK = 32 * 1024;
const MAX_ERROR_JSON = 40 * 1024;

/** `text` cut to at most maxBytes of UTF-8, on a character boundary. */
function cutText(text, maxBytes) {
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--; // not inside a character
  return bytes.subarray(0, end).toString("utf8");
}

function fittedError(type, message, stack) {
  const err = { type: cutText(type, MAX_ERROR_TYPE), message: cutText(message, MAX_ERROR_MESSAGE) };
  if (stack !== undefined) err.stack = cutText(stack, MAX_ERROR_STACK);
  while (Buffer.byteLength(JSON.stringify(err)) > MAX_ERROR_JSON) {
    if (err.stack) err.stack = err.stack.slice(0, err.stack.length >> 1);
    else if (err.message.length > 1) err.message = err.message.slice(0, err.message.length >> 1);
    else break;
  }
  return err;
}

function errorOf(err) {
  try {
    if (err instanceof Error) {
      return fittedError(String(err.name || (err.constructor && err.constructor.name) || "Error"), String(err.message), String(err.stack || ""));
    }
    return fittedError(typeof err === "object" && err !== null ? "Object" : typeof err, String(err));
  } catch {
    return { type: "Error", message: "(the error could not be printed)" };
  }
}

/** TypeScript arrives transpiled with an inline source map (shared/typescript.ts); with maps on, a stack names its lines. */
const INLINE_SOURCE_MAP = "\n//# sourceMappingURL=data:application/json;base64,";

function loadHandler(code) {
  const filename = "/tmp/handler.js";
  if (code.includes(INLINE_SOURCE_MAP)) process.setSourceMapsEnabled(true);
  const mod = new Module(filename, null);
  mod.filename = filename;
  mod.paths = Module._nodeModulePaths(path.dirname(filename));
  mod._compile(code, filename);
  const exported = mod.exports && mod.exports.handler;
  if (typeof exported !== "function") {
    const err = new Error("handler.js does not export a function named handler (exports.handler = async (event, context) => ...)");
    err.name = "HandlerNotFound";
    throw err;
  }
  return exported;
}

function handlerNotFound(message) {
  const err = new Error(message);
  err.name = "HandlerNotFound";
  return err;
}

function exportedHandler(mod, file, name) {
  const fn = mod && (mod[name] || (mod.default && mod.default[name]));
  if (typeof fn !== "function") throw handlerNotFound(`${file} does not export a function named ${name}`);
  return fn;
}

/**
 * A bundle (mounted read-only at WEFT_TASK_ROOT, its layer at node_modules beside it): WEFT_HANDLER is
 * module.function as Lambda has it. CommonJS is required; an ES module is imported (the answer is a promise).
 */
function loadBundleHandler(root, spec) {
  const dot = spec.lastIndexOf(".");
  const name = spec.slice(dot + 1);
  const base = path.join(root, spec.slice(0, dot));
  const file = [".js", ".cjs", ".mjs"].map((ext) => base + ext).find((f) => fs.existsSync(f));
  if (!file) throw handlerNotFound(`${spec}: none of ${base}.js, .cjs, .mjs exists`);
  if (file.endsWith(".mjs")) return import(file).then((mod) => exportedHandler(mod, file, name));
  try {
    return exportedHandler(require(file), file, name);
  } catch (err) {
    // A .js file in a package with "type": "module" is an ES module.
    if (err && err.code === "ERR_REQUIRE_ESM") return import(file).then((mod) => exportedHandler(mod, file, name));
    throw err;
  }
}

function init(header, code) {
  logLimit = Number(header.logLimit) || logLimit;
  outputLimit = Number(header.outputLimit) || outputLimit;
  Object.assign(process.env, header.env || {});
  startThreadPool();
  const buf = new LogBuffer(logLimit);
  const answer = (frame) => {
    const logs = buf.bytes();
    frame.logBytes = logs.length;
    frame.logsTruncated = buf.truncated;
    writeFrame(frame, logs);
  };
  const failed = (err) => answer({ t: "init_error", error: errorOf(err) });
  try {
    const root = process.env.WEFT_TASK_ROOT;
    const loaded = logStore.run(buf, () => (root ? loadBundleHandler(root, process.env.WEFT_HANDLER || "handler.handler") : loadHandler(code.toString("utf8"))));
    if (loaded && typeof loaded.then === "function") {
      logStore.run(buf, () => loaded.then((fn) => { handler = fn; answer({ t: "init_ok" }); }, failed));
      return;
    }
    handler = loaded;
    answer({ t: "init_ok" });
  } catch (err) {
    failed(err);
  }
}

function contextOf(ctx) {
  const deadline = Number(ctx.deadline) || 0;
  return {
    invocationId: ctx.invocationId,
    awsRequestId: ctx.invocationId,
    functionName: ctx.functionName,
    functionVersion: String(ctx.version),
    memoryLimitInMB: ctx.memoryMb,
    traceId: ctx.traceId,
    attempt: ctx.attempt || 1,
    // A subject or stream trigger's message: its subject and headers (name -> value); {} for any other call.
    subject: typeof ctx.subject === "string" ? ctx.subject : undefined,
    headers: ctx.headers && typeof ctx.headers === "object" ? ctx.headers : {},
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

/** Calls the handler: async/promise-returning, plain, or Lambda's (event, context, callback) style. */
function callHandler(event, context) {
  if (handler.length >= 3) {
    return new Promise((resolve, reject) => {
      const returned = handler(event, context, (err, value) => (err ? reject(err) : resolve(value)));
      if (returned && typeof returned.then === "function") returned.then(resolve, reject);
    });
  }
  return handler(event, context);
}

/** The output as UTF-8 JSON bytes, or an error. */
function serialise(value) {
  let text;
  try {
    text = JSON.stringify(value === undefined ? null : value);
    if (text === undefined) text = "null";
  } catch (err) {
    if (err instanceof RangeError) return { error: { type: "OutputTooDeep", message: "the handler's return value is nested too deeply to serialise" } };
    return { error: { type: "OutputNotJson", message: "the handler's return value is not JSON-serialisable: " + errorOf(err).message } };
  }
  const out = Buffer.from(text, "utf8");
  if (out.length > outputLimit) return { error: { type: "OutputTooLarge", message: `the output is ${out.length} bytes; the limit is ${outputLimit}` } };
  return { out };
}

async function invoke(header, eventBytes) {
  if (!handler) return { error: { type: "Error", message: "function is not initialised" } };
  let event = null;
  try {
    if (eventBytes.length > 0) event = JSON.parse(eventBytes.toString("utf8"));
  } catch (err) {
    return { error: { type: "InvalidEvent", message: "the event could not be parsed: " + String(err.message).slice(0, 200) } };
  }
  let value;
  try {
    value = await callHandler(event, contextOf(header.ctx || {}));
  } catch (err) {
    return { error: errorOf(err) };
  }
  return serialise(value);
}

const nextTurn = () =>
  new Promise((resolve) => {
    ownWork = true;
    try {
      setImmediate(resolve);
    } finally {
      ownWork = false;
    }
  });

/**
 * POSIX timers (timer_create) armed in this process: none is ours, so any is a call's. The file stays open between
 * calls: one pread a call, not an open, a stat, two reads and a close (a fifth of this worker's CPU per call). As
 * in the Python worker, this guards against code that forgets; the runner's own checks are the boundary.
 */
let timersFd = -1;
const timersBuf = Buffer.alloc(4096);
function posixTimers() {
  try {
    if (timersFd < 0) timersFd = fs.openSync("/proc/self/timers", "r"); // libuv opens every file close-on-exec
    const n = fs.readSync(timersFd, timersBuf, 0, timersBuf.length, 0);
    return timersBuf.subarray(0, n).toString("latin1").trim() ? "the call left a POSIX timer armed" : "";
  } catch {
    if (timersFd >= 0) {
      try {
        fs.closeSync(timersFd);
      } catch {
        // closed by the call itself
      }
    }
    timersFd = -1;
    return "";
  }
}

/**
 * A timer of the call still armed (not cleared, and not a timeout that fired) that runs code later: an interval,
 * or a timeout of more than 1 ms. A 0 or 1 ms timeout is the call finishing up: the turns still wait for it.
 */
function laterTimer() {
  for (const t of callTimers.values()) if (!t._destroyed && t._idleTimeout >= 0 && (t._repeat || t._idleTimeout > 1)) return true;
  return false;
}

/** Resources this call created that outlive it; destroy hooks run a turn late, so look twice. */
async function leftovers(before) {
  // One macrotask turn first: every microtask the call queued (a promise chain of any length) runs before it,
  // so whatever such a chain arms is created while the call is still being tracked.
  const ended = Date.now();
  await nextTurn();
  // Three turns, and on a fast machine as many more as it takes for 2 ms to pass: a 0 or 1 ms timeout is due
  // only once a millisecond has passed, and three quick turns can all come before that.
  for (let turn = 0; turn < 3 || (Date.now() - ended < 2 && turn < 100); turn++) {
    if (callResources.size === before) return posixTimers();
    // A call that arrived meanwhile owns resources too (its own timers): nothing can be blamed on the call
    // that ended. What it left stays in callResources and is judged when the worker is next idle.
    if (inFlight > 0) return "";
    // Judged now: another turn would let the timer run first if it is due (on a starved CPU, 50 ms pass in a
    // turn), and one that never yields (a microtask loop) would keep this answer from ever being written.
    if (laterTimer()) break;
    await nextTurn();
  }
  if (inFlight > 0) return "";
  const kinds = [...new Set(callResources.values())].slice(0, 5).join(", ");
  return `${callResources.size - before} async resource(s) still alive: ${kinds}`;
}

let inFlight = 0;
function run(header, eventBytes) {
  const buf = new LogBuffer(logLimit);
  inFlight++;
  tracking++;
  const id = String(header.id);
  logStore
    .run(buf, () => invoke(header, eventBytes))
    .catch((err) => ({ error: errorOf(err) }))
    .then(async (outcome) => {
      inFlight--;
      // Still tracking while we look: work the call's leftovers create meanwhile (an immediate chain, a
      // microtask that arms an interval) is the call's too.
      const dirty = inFlight === 0 ? await leftovers(0) : "";
      tracking--;
      if (inFlight === 0) {
        callResources.clear();
        callTimers.clear();
      }
      const logs = buf.bytes();
      const frame = { t: "result", id, ok: !outcome.error, logBytes: logs.length, logsTruncated: buf.truncated };
      if (dirty) frame.dirty = dirty;
      if (outcome.error) {
        frame.error = outcome.error;
        writeFrame(frame, logs);
      } else {
        frame.outputBytes = outcome.out.length;
        writeFrame(frame, outcome.out, logs);
      }
    });
}

/** Splits the control pipe into frames: a header line, then the payload bytes it names. */
function frameReader(onFrame) {
  let pending = [];
  let pendingBytes = 0;
  let header = null;
  let need = 0;
  const take = (n) => {
    const all = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
    const head = all.subarray(0, n);
    const rest = all.subarray(n);
    pending = rest.length ? [rest] : [];
    pendingBytes = rest.length;
    return head;
  };
  return (chunk) => {
    pending.push(chunk);
    pendingBytes += chunk.length;
    for (;;) {
      if (!header) {
        const all = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
        pending = [all];
        const nl = all.indexOf(10);
        if (nl < 0) {
          if (pendingBytes > MAX_HEADER) process.exit(70);
          return;
        }
        header = JSON.parse(take(nl + 1).toString("utf8"));
        need = Number(header.t === "init" ? header.codeBytes : header.eventBytes) || 0;
      }
      if (pendingBytes < need) return;
      const payload = Buffer.from(take(need));
      const h = header;
      header = null;
      onFrame(h, payload);
    }
  };
}

function main() {
  captureStream(process.stdout);
  captureStream(process.stderr);
  // An error thrown after a handler returned must not take the warm worker down with it.
  process.on("uncaughtException", (err) => process.stderr.write("uncaught exception: " + ((err && err.stack) || err) + "\n"));
  process.on("unhandledRejection", (err) => process.stderr.write("unhandled rejection: " + ((err && err.stack) || err) + "\n"));
  listen();
}

/**
 * libuv starts its thread pool on first use, with UV_THREADPOOL_SIZE threads (the image sets 2; a function's own
 * environment may set more, so it starts only once that is applied). It starts at init, so the runner's thread
 * count after init is the baseline and a handler's fs or crypto call does not look like a thread it left behind.
 * Every thread costs each warm call two wake-ups (stopped between calls, continued for the next).
 */
function startThreadPool() {
  fs.stat("/", () => {});
}

function listen() {
  const ctl = new net.Socket({ fd: CTL_FD, readable: true, writable: false });
  const feed = frameReader((header, payload) => {
    if (header.t === "run") run(header, payload);
    else if (header.t === "init") init(header, payload);
  });
  ctl.on("data", feed);
  ctl.on("end", () => process.exit(0));
  writeFrame({ t: "up" });
  ctl.on("error", () => process.exit(0));
}

main();
