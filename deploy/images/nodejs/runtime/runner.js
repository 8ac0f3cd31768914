// Weft Node.js runner (CommonJS, Node >= 18): loads one function's code once (init), then runs events
// (run), speaking newline-delimited JSON with the agent. Protocol: agents/runner-protocol.ts.
//
// Frames go to fd 3 (the container's stdout, set up by the image's CMD), each line prefixed with a
// per-container token, so nothing user code or its subprocesses write (fd 1 and 2 both point at the
// container's stderr) can forge or corrupt a frame.
"use strict";
const fs = require("fs");
const path = require("path");
const Module = require("module");
const readline = require("readline");
const { AsyncLocalStorage } = require("async_hooks");

const FRAME_FD = 3;
const TOKEN = process.env.WEFT_FRAME_TOKEN || "";
delete process.env.WEFT_FRAME_TOKEN;

const logStore = new AsyncLocalStorage();
let handler = null;
let logLimit = 262144;
let inFlight = 0;

function emitRaw(text) {
  const data = Buffer.from(TOKEN + " " + text + "\n");
  let off = 0;
  while (off < data.length) off += fs.writeSync(FRAME_FD, data, off);
}

const emit = (obj) => emitRaw(JSON.stringify(obj));

/**
 * Marks the end of a run on stderr, after everything the run (and its subprocesses) wrote there: the agent
 * waits for it, so late output is not lost or attributed to the next run. (stderr is synchronous for pipes.)
 */
function emitEnd(id) {
  try {
    fs.writeSync(2, TOKEN + ' {"t":"end","id":' + JSON.stringify(id) + "}\n");
  } catch {
    // stderr closed by the handler: the agent's grace period covers it
  }
}

/** What one invocation printed, cut at the agent-given byte limit. */
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
      : Buffer.from(String(chunk), typeof encoding === "string" ? encoding : "utf8");
    const room = this.limit - this.size;
    if (data.length > room) {
      data = data.subarray(0, room);
      this.truncated = true;
    }
    this.parts.push(data);
    this.size += data.length;
  }
  text() {
    // A cut may split a multi-byte character; drop the replacement character that leaves.
    return Buffer.concat(this.parts).toString("utf8").replace(/\uFFFD$/, "");
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

function errorOf(err) {
  if (err instanceof Error) {
    return { type: err.name || (err.constructor && err.constructor.name) || "Error", message: err.message, stack: err.stack };
  }
  return { type: typeof err === "object" && err !== null ? "Object" : typeof err, message: String(err) };
}

function loadHandler(code) {
  const filename = "/tmp/handler.js";
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

function init(msg) {
  logLimit = Number(msg.logBytes) || logLimit;
  Object.assign(process.env, msg.env || {});
  const buf = new LogBuffer(logLimit);
  let frame;
  try {
    handler = logStore.run(buf, () => loadHandler(String(msg.code || "")));
    frame = { t: "init_ok" };
  } catch (err) {
    frame = { t: "init_error", error: errorOf(err) };
  }
  frame.logs = buf.text();
  frame.logsTruncated = buf.truncated;
  emit(frame);
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

function resultFrame(id, buf, ok, body) {
  const field = ok ? ',"ok":true,"output":' : ',"ok":false,"error":';
  return '{"t":"result","id":' + JSON.stringify(id) + field + body +
    ',"logs":' + JSON.stringify(buf.text()) + ',"logsTruncated":' + buf.truncated + "}";
}

async function invoke(msg, buf) {
  if (!handler) return resultFrame(msg.id, buf, false, JSON.stringify({ type: "Error", message: "function is not initialised" }));
  let value;
  try {
    value = await callHandler(msg.event, contextOf(msg.ctx || {}));
  } catch (err) {
    return resultFrame(msg.id, buf, false, JSON.stringify(errorOf(err)));
  }
  let output;
  try {
    output = JSON.stringify(value === undefined ? null : value);
    if (output === undefined) output = "null";
  } catch (err) {
    const error = { type: "OutputNotJson", message: "the handler's return value is not JSON-serialisable: " + err.message };
    return resultFrame(msg.id, buf, false, JSON.stringify(error));
  }
  return resultFrame(msg.id, buf, true, output);
}

function run(msg) {
  const buf = new LogBuffer(logLimit);
  inFlight++;
  logStore
    .run(buf, () => invoke(msg, buf))
    .then((frame) => {
      emitEnd(msg.id);
      emitRaw(frame);
    })
    .finally(() => {
      inFlight--;
      if (inFlight === 0) killStrays();
    });
}

/** Processes the handler left behind would carry one call's work into the next: end them (PID 1 is the init). */
function killStrays() {
  let entries;
  try {
    entries = fs.readdirSync("/proc");
  } catch {
    return;
  }
  for (const name of entries) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === 1 || pid === process.pid) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

function main() {
  captureStream(process.stdout);
  captureStream(process.stderr);
  // An error thrown after a handler returned must not take the warm container down with it.
  process.on("uncaughtException", (err) => process.stderr.write("uncaught exception: " + (err && err.stack || err) + "\n"));
  process.on("unhandledRejection", (err) => process.stderr.write("unhandled rejection: " + (err && err.stack || err) + "\n"));
  emit({ t: "ready", runtime: "nodejs", pid: process.pid });
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on("line", (line) => {
    if (!line.trim()) return;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch (err) {
      process.stderr.write("weft runner: bad frame: " + err.message + "\n");
      return;
    }
    if (msg.t === "run") run(msg);
    else if (msg.t === "init") init(msg);
  });
  lines.on("close", () => process.exit(0));
}

main();
