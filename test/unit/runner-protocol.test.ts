// Framing of the agent ↔ runner protocol: frames, stray output, Docker's multiplexed attach stream.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { AttachDemuxer, FrameReader, encodeInit, encodeRun, isJsonText, type RunnerFrame } from "../../agents/runner-protocol.js";
import { FunctionDefinition } from "../../shared/schemas/function.js";

const ctx = { invocationId: "i-1", functionName: "f", version: 3, memoryMb: 128, deadline: 42, traceId: "t" };

function reader(token = "tok") {
  const frames: RunnerFrame[] = [];
  let stray = "";
  const r = new FrameReader(token, { frame: (f) => frames.push(f), stray: (t) => (stray += t) });
  return { r, frames, stray: () => stray };
}

function dockerBlock(stream: 1 | 2, payload: string): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

describe("agent → runner frames", () => {
  test("run frame carries the event text unparsed and stays on one line", () => {
    const event = '{\n  "a": "x\\ny",\r\n  "b": [1, 2]\n}';
    const line = encodeRun("7", ctx, event);
    assert.equal(line.endsWith("\n"), true);
    assert.equal(line.slice(0, -1).includes("\n"), false);
    assert.equal(line.includes("\r"), false);
    const parsed = JSON.parse(line);
    assert.deepEqual(parsed, { t: "run", id: "7", ctx, event: { a: "x\ny", b: [1, 2] } });
  });

  test("an empty event is sent as null", () => {
    assert.equal(JSON.parse(encodeRun("1", ctx, "")).event, null);
  });

  test("init frame carries code, env and limits on one line", () => {
    const def = FunctionDefinition.parse({
      name: "f",
      version: 2,
      runtime: "python3",
      code: "def handler(e, c):\n    return 1\n",
      env: { A: "1" },
      codeSha256: "x",
      createdAt: "now",
    });
    const line = encodeInit(def, 1000);
    assert.equal(line.slice(0, -1).includes("\n"), false);
    const parsed = JSON.parse(line);
    assert.equal(parsed.t, "init");
    assert.equal(parsed.code, def.code);
    assert.deepEqual(parsed.env, { A: "1" });
    assert.equal(parsed.timeoutMs, def.limits.timeoutMs);
    assert.equal(parsed.logBytes, 1000);
  });

  test("isJsonText accepts JSON values and empty text, refuses the rest", () => {
    for (const ok of ["", "1", '"s"', "null", '{"a":[1]}', " [ ] "]) assert.equal(isJsonText(ok), true, ok);
    for (const bad of ["{", "hello", "{'a':1}", "1 2"]) assert.equal(isJsonText(bad), false, bad);
  });
});

describe("runner → agent frames", () => {
  test("frames need the container's token; other lines are stray output", () => {
    const { r, frames, stray } = reader();
    r.feed(Buffer.from('tok {"t":"ready"}\nhello\nother {"t":"init_ok"}\n'));
    assert.deepEqual(frames, [{ t: "ready" }]);
    assert.equal(stray(), 'hello\nother {"t":"init_ok"}\n');
  });

  test("a frame split across chunks, and several in one chunk", () => {
    const { r, frames } = reader();
    const line = 'tok {"t":"result","id":"1","ok":true,"output":{"x":"é"},"logs":""}\n';
    const bytes = Buffer.from(line + 'tok {"t":"init_ok"}\n');
    for (let i = 0; i < bytes.length; i += 5) r.feed(bytes.subarray(i, i + 5));
    assert.equal(frames.length, 2);
    assert.deepEqual(frames[0], { t: "result", id: "1", ok: true, output: { x: "é" }, logs: "" });
  });

  test("stray text without a line end before a frame is split off", () => {
    const { r, frames, stray } = reader();
    r.feed(Buffer.from('no newline tok {"t":"init_ok"}\n'));
    assert.deepEqual(frames, [{ t: "init_ok" }]);
    assert.equal(stray(), "no newline ");
  });

  test("a token line that is not a valid frame is stray, not a crash", () => {
    const { r, frames, stray } = reader();
    r.feed(Buffer.from('tok {"t":"result"}\ntok {broken\n'));
    assert.equal(frames.length, 0);
    assert.match(stray(), /broken/);
  });

  test("pendingBytes counts an unfinished line", () => {
    const { r } = reader();
    r.feed(Buffer.from("abc"));
    r.feed(Buffer.from("def"));
    assert.equal(r.pendingBytes, 6);
  });
});

describe("Docker attach demultiplexing", () => {
  test("splits stdout and stderr blocks, whatever the chunking", () => {
    const out: string[] = [];
    const err: string[] = [];
    const all = Buffer.concat([dockerBlock(1, "out-1 "), dockerBlock(2, "err-1"), dockerBlock(1, ""), dockerBlock(1, "out-2")]);
    for (const size of [1, 3, 8, 9, all.length]) {
      out.length = 0;
      err.length = 0;
      const d = new AttachDemuxer((c) => out.push(c.toString()), (c) => err.push(c.toString()));
      for (let i = 0; i < all.length; i += size) d.feed(all.subarray(i, i + size));
      assert.equal(out.join(""), "out-1 out-2", `chunk ${size}`);
      assert.equal(err.join(""), "err-1", `chunk ${size}`);
    }
  });
});
