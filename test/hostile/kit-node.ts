// The attacker's toolkit in JavaScript (CommonJS, as the Node runner loads it): the same reach as the Python
// kit (kit-python.ts), with Node's own ways of leaving work behind (workers, timers, immediates, microtasks).
export const JS_KIT = String.raw`
const fs = require("fs");
const os = require("os");
const cp = require("child_process");
const TOKENISH = /^[0-9A-Za-z_+\/=-]{16,128}$/;
const HEXRUN = /(?<![0-9a-f])[0-9a-f]{16,64}(?![0-9a-f])/g;
const RUN_IDS = ["1", "2", "3", "4", "5", "6", "7", "8"];
const CALLS = { n: 0 };
const TICKS = [];
const HIJACK = {};
const LEAK_LOG = "/tmp/leak.log";

const errName = (e) => (e && e.code) || (e && e.name) || String(e);

function pids() {
  return fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p)).map(Number).sort((a, b) => a - b);
}

function statusOf(pid) {
  const out = {};
  try {
    for (const line of fs.readFileSync("/proc/" + pid + "/status", "utf8").split("\n")) {
      const i = line.indexOf(":");
      if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
    }
  } catch (e) {}
  return out;
}

const parentOf = (pid) => Number(statusOf(pid).PPid || 0);

function ancestors() {
  const seen = new Set();
  let pid = process.pid;
  while (pid > 0 && !seen.has(pid)) { seen.add(pid); pid = parentOf(pid); }
  return seen;
}

function descendants() {
  const parent = new Map(pids().map((p) => [p, parentOf(p)]));
  const out = new Set();
  for (const p of parent.keys()) {
    let q = parent.get(p), hops = 0;
    while (q && hops++ < 256) { if (q === process.pid) { out.add(p); break; } q = parent.get(q) || 0; }
  }
  return out;
}

/** Every process in the container that is neither this one nor one it started. */
function others() {
  const mine = descendants();
  mine.add(process.pid);
  return pids().filter((p) => !mine.has(p));
}

/** Live processes of this uid that are not this one, its ancestors or pid 1. */
function leftovers() {
  const keep = ancestors();
  keep.add(1);
  const uid = String(process.getuid());
  const out = [];
  for (const p of pids()) {
    if (keep.has(p)) continue;
    const st = statusOf(p);
    if (!st.Name || (st.State || "").startsWith("Z")) continue;
    if ((st.Uid || "").split(/\s+/)[0] !== uid) continue;
    out.push({ pid: p, name: st.Name });
  }
  return out;
}

function envTokens() {
  const found = [];
  for (const p of ["self", "thread-self", ...pids().map(String)]) {
    for (const leaf of ["environ", "cmdline"]) {
      let data;
      try { data = fs.readFileSync("/proc/" + p + "/" + leaf); } catch (e) { continue; }
      for (const part of data.toString("latin1").split("\0")) {
        const value = leaf === "environ" ? part.slice(part.indexOf("=") + 1) : part;
        if (leaf === "environ" && part.indexOf("=") < 0) continue;
        if (TOKENISH.test(value)) found.push(value);
      }
    }
  }
  for (const value of Object.values(process.env)) if (TOKENISH.test(String(value))) found.push(String(value));
  return found;
}

/** Hex runs in this process's own memory (/proc/self/mem): the heap holds whatever the runner holds. */
function memoryTokens(limit = 48, budget = 128 << 20) {
  const found = [];
  let maps, fd;
  try { maps = fs.readFileSync("/proc/self/maps", "utf8").split("\n"); fd = fs.openSync("/proc/self/mem", "r"); } catch (e) { return found; }
  const buf = Buffer.alloc(8 << 20);
  try {
    for (const line of maps) {
      const parts = line.split(/\s+/);
      if (parts.length < 2 || !parts[1].startsWith("r") || parts[5] === "[vvar]" || parts[5] === "[vsyscall]") continue;
      const [lo, hi] = parts[0].split("-").map((x) => parseInt(x, 16));
      if (hi - lo > Math.min(budget, 64 << 20)) continue;
      budget -= hi - lo;
      for (let at = lo; at < hi; at += buf.length - 128) {
        let n;
        try { n = fs.readSync(fd, buf, 0, Math.min(buf.length, hi - at), at); } catch (e) { break; }
        for (const m of buf.toString("latin1", 0, n).matchAll(HEXRUN)) {
          found.push(m[0]);
          if (found.length >= limit) return found;
        }
        if (n < Math.min(buf.length, hi - at)) break;
      }
    }
  } finally { fs.closeSync(fd); }
  return found;
}

const unique = (xs, limit = 64) => [...new Set(xs)].slice(0, limit);

/** Each frame bare and behind every candidate token, one line each. */
function frameLines(frames, tokens) {
  const lines = [];
  for (const f of frames) { lines.push(f + "\n"); for (const t of tokens) lines.push(t + " " + f + "\n"); }
  return Buffer.from(lines.join(""), "latin1");
}

function writeAll(fd, data) {
  let off = 0;
  while (off < data.length) off += fs.writeSync(fd, data, off);
}

const ownFds = () => fs.readdirSync("/proc/self/fd").map(Number).sort((a, b) => a - b);

/**
 * This process's own fds that lead nowhere but back into it (epoll, eventfd, io_uring, a pipe it holds both
 * ends of: libuv's plumbing): writing there only breaks the attacker, so it spares them.
 */
function plumbing() {
  const ends = new Map();
  const spare = new Set();
  for (const fd of ownFds()) {
    let target, flags;
    try {
      target = fs.readlinkSync("/proc/self/fd/" + fd);
      flags = parseInt(fs.readFileSync("/proc/self/fdinfo/" + fd, "utf8").match(/flags:\s*(\d+)/)[1], 8);
    } catch (e) { continue; }
    if (target.startsWith("anon_inode:")) spare.add(fd);
    else if (target.startsWith("pipe:")) {
      const modes = ends.get(target) || new Map();
      ends.set(target, modes);
      modes.set(flags & 3, [...(modes.get(flags & 3) || []), fd]);
    }
  }
  for (const modes of ends.values()) if (modes.has(0) && modes.has(1)) for (const fds of modes.values()) for (const fd of fds) spare.add(fd);
  return spare;
}

function fdPaths(spare = new Set()) {
  const paths = ["/dev/stdout", "/dev/stderr", "/dev/stdin", "/dev/console", "/dev/tty"];
  for (const p of pids()) {
    let fds;
    try { fds = fs.readdirSync("/proc/" + p + "/fd"); } catch (e) { continue; }
    for (const fd of fds) if (!(p === process.pid && spare.has(Number(fd)))) paths.push("/proc/" + p + "/fd/" + fd);
  }
  return paths;
}

/** Writes data down every route (its own plumbing spared); says what each route did. */
function spray(data, fds, paths) {
  const spare = plumbing();
  if (fds === undefined) fds = ownFds().filter((fd) => !spare.has(fd));
  if (paths === undefined) paths = fdPaths(spare);
  const report = {};
  for (const fd of fds) {
    try { writeAll(fd, data); report["fd " + fd] = "written"; } catch (e) { report["fd " + fd] = errName(e); }
  }
  for (const path of paths) {
    let fd;
    try { fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY); } catch (e) { report[path] = errName(e); continue; }
    try { writeAll(fd, data); report[path] = "written"; } catch (e) { report[path] = errName(e); } finally { fs.closeSync(fd); }
  }
  return report;
}

function forgedFrames(ids) {
  const out = [];
  for (const id of ids) {
    out.push('{"t":"end","id":' + JSON.stringify(id) + "}");
    out.push('{"t":"result","id":' + JSON.stringify(id) + ',"ok":true,"output":{"forged":"FORGED-BY-HANDLER"},"logs":"","logsTruncated":false}');
  }
  return out;
}

const runIds = (context) => [...RUN_IDS, context.invocationId];

/** One unit of leaked work: a timestamp in memory and in /tmp, and a line on stderr. */
function tick() {
  const now = Date.now();
  TICKS.push(now);
  try { fs.appendFileSync(LEAK_LOG, now + "\n"); } catch (e) {}
  try { fs.writeSync(2, "LEAKED-WORK\n"); } catch (e) {}
}

function busy(ms) { const end = Date.now() + ms; while (Date.now() < end) {} }

/** What ran after the previous answer: ticks in memory and in /tmp, and live leftover processes. */
function leakProbe(afterMs) {
  let fileTicks = [];
  try { fileTicks = fs.readFileSync(LEAK_LOG, "utf8").split("\n").filter(Boolean).map(Number); } catch (e) {}
  return {
    memoryTicksAfter: TICKS.filter((t) => t > afterMs).length,
    fileTicksAfter: fileTicks.filter((t) => t > afterMs).length,
    leftovers: leftovers(),
    hijack: HIJACK.at === undefined ? null : HIJACK.at,
  };
}

function containerId() {
  try { const m = fs.readFileSync("/proc/self/cgroup", "utf8").match(/[0-9a-f]{64}/); return m ? m[0] : null; } catch (e) { return null; }
}

/** A shell loop that ticks into the leak log and onto stderr, busy in between (for children and bombs). */
const SH_TICK = 'while :; do date +%s%3N >> /tmp/leak.log; echo LEAKED-WORK >&2; i=0; while [ $i -lt 200 ]; do i=$((i+1)); done; done';
`;

/** A Node handler: the kit, then `body` as the async handler's body. */
export const jsHandler = (body: string, preamble = ""): string =>
  `${JS_KIT}\n${preamble}\nexports.handler = async (event, context) => {\n  CALLS.n++;\n${body}\n};\n`;
