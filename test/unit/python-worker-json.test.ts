// The Python worker's JSON (deploy/images/python3/runtime/worker.py, json_loads and json_dumps): json's own C
// scanner and encoder without the json package, so that re and enum are not in every warm container's memory.
// Run in the host's python3 on the worker's own code, each case against json itself: the same value, the same
// text, and the same kind of error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { inPythonWorker } from "./python-worker-host.js";

/** Runs `body` with the worker loaded as `w`; returns what it prints. */
const python = (body: string, flags: string[] = []) => inPythonWorker(body, { flags });

test("loading the worker imports neither json, re, enum, signal nor threading", async () => {
  // -S: no site module, which imports some of them itself on some hosts.
  const out = await python(`print(",".join(m for m in ("json", "re", "enum", "signal", "threading") if m in sys.modules) or "none")`, ["-S"]);
  assert.equal(out.trim(), "none");
});

test("json_loads and json_dumps give what json gives, value for value and error for error", async () => {
  const out = await python(String.raw`import json, math
docs = [b'{"a": 1}', b' \t\n{"a": [1, -2.5e-3, null, true, false, "x\\u00e9\\ud83d\\ude00"]}\r\n', b'"text"', b'12', b'-0', b'1e400',
        b'NaN', b'[Infinity, -Infinity]', b'{"a": 1} x', b'{"a": 1}{}', b'', b'   ', b'{"a": }', b'[1,]', b'{"a" 1}',
        b'"\x01"', b'"\\ud800"', '\ufeff{"a": 1}'.encode("utf-8"), '{"a": "\u00e9"}'.encode("utf-16"), '[1]'.encode("utf-32"),
        b'\xff\xfe', b'{"a": {"b": {"c": [[[[]]]]}}}', b'[' * 100 + b']' * 100, b'{"dup": 1, "dup": 2}', b'1.5 ',
        b'[1e2, 10000000000000000000000, 0.1]']
def outcome(f, arg):
    try:
        v = f(arg)
        return ["ok", json.dumps(v, allow_nan=True, sort_keys=True)]
    except RecursionError:
        return ["RecursionError"]
    except ValueError as e:
        return ["ValueError", type(e).__name__]
    except Exception as e:
        return ["error", type(e).__name__]
loads = [[d.decode("latin-1"), outcome(json.loads, d), outcome(w.json_loads, d)] for d in docs]
deep = b'[' * 100000 + b']' * 100000
loads.append(["deep", outcome(json.loads, deep), outcome(w.json_loads, deep)])

class Custom: pass
cyclic = []
cyclic.append(cyclic)
values = [{"a": [1, 2.5, None, True, "\u00e9\u2028\ud83d\ude00", "\x00\x1f\"\\"]}, "s", 0, -1.25, 10**30, [], {}, {1: "int key", 2.5: "float key", None: 1, True: 2},
          float("nan"), [float("inf")], {"x": Custom()}, {(1, 2): 1}, cyclic, "\ud800", (1, 2)]
def dump_outcome(f, v, **kw):
    try:
        return ["ok", f(v, **kw)]
    except RecursionError:
        return ["RecursionError"]
    except (TypeError, ValueError) as e:
        return [type(e).__name__, str(e)]
dumps = []
for v in values:
    for kw in ({}, {"ensure_ascii": False}, {"allow_nan": False}, {"ensure_ascii": False, "allow_nan": False}):
        mine = dump_outcome(w.json_dumps, v, **kw)
        theirs = dump_outcome(json.dumps, v, separators=(",", ":"), **kw)
        dumps.append([repr(v)[:40], kw, theirs, mine])
deep_value = []
for _ in range(100000):
    deep_value = [deep_value]
dumps.append(["deep", {}, dump_outcome(json.dumps, deep_value, separators=(",", ":")), dump_outcome(w.json_dumps, deep_value)])
print(json.dumps({"loads": loads, "dumps": dumps}))`);
  const r = JSON.parse(out) as { loads: [string, unknown, unknown][]; dumps: [string, unknown, unknown, unknown][] };
  assert.ok(r.loads.length >= 27 && r.dumps.length >= 61);
  for (const [doc, theirs, mine] of r.loads) assert.deepEqual(mine, theirs, `loads ${JSON.stringify(doc)}`);
  for (const [value, kw, theirs, mine] of r.dumps) assert.deepEqual(mine, theirs, `dumps ${value} ${JSON.stringify(kw)}`);
  // The corpus reaches every branch: values, refusals and nesting too deep.
  const kinds = new Set([...r.loads.map(([, t]) => (t as string[])[0]), ...r.dumps.map(([, , t]) => (t as string[])[0])]);
  assert.deepEqual([...kinds].sort(), ["RecursionError", "TypeError", "ValueError", "ok"]);
});

test("signal names are signal.Signals' names, aliases included", async () => {
  const out = await python(`import signal
print(all(w.signal_name(s) == signal.Signals(s).name for s in signal.valid_signals() if s in signal.Signals._value2member_map_))`);
  assert.equal(out.trim(), "True");
});
