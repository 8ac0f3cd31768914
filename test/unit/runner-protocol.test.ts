// Framing of the agent ↔ runner protocol (deploy/images/PROTOCOL.md): frames in both directions, their
// bounds and violations, Docker's multiplexed attach stream, and the JSON scanner used on outputs.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { AttachDemuxer, FrameDecoder, ProtocolViolation, encodeInit, encodeRun, plainResult, runnerFrameSchema, type ReceivedFrame } from "../../agents/runner-protocol.js";
import { FunctionDefinition } from "../../shared/schemas/function.js";
import { scanJson } from "../../shared/json-scan.js";

const ctx = { invocationId: "i-1", functionName: "f", version: 3, memoryMb: 128, deadline: 42, traceId: "t", attempt: 1 };
const limits = { logBytes: 1024, outputBytes: 4096 };

function decoder() {
  const frames: ReceivedFrame[] = [];
  return { d: new FrameDecoder(limits, (f) => frames.push(f)), frames };
}

const frameBytes = (header: object, ...payload: string[]) => Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), ...payload.map((p) => Buffer.from(p))]);

function dockerBlock(stream: 1 | 2, payload: string): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

describe("agent → runner frames", () => {
  test("a run frame is a header naming the event's length, then the event's bytes untouched", () => {
    const event = Buffer.from('{"a":\n"x\\ny"}');
    const [head, body] = encodeRun("7", ctx, event);
    const header = JSON.parse(head!.toString());
    assert.deepEqual(header, { t: "run", id: "7", ctx, eventBytes: event.length });
    assert.ok(head!.toString().endsWith("\n"));
    assert.deepEqual(body, event);
  });

  test("an empty event is sent as null", () => {
    const [head, body] = encodeRun("1", ctx, new Uint8Array(0));
    assert.equal(body!.toString(), "null");
    assert.equal(JSON.parse(head!.toString()).eventBytes, 4);
  });

  test("init carries the code as UTF-8 bytes and the env in the header", () => {
    const def = FunctionDefinition.parse({
      name: "f", incarnation: "0123456789abcdef", version: 1, runtime: "python3", code: "def handler(e, c):\n  return 'é'\n", env: { A: "1" }, codeSha256: "x", createdAt: new Date().toISOString(),
    });
    const [head, code] = encodeInit(def, limits);
    const header = JSON.parse(head!.toString());
    assert.equal(header.codeBytes, Buffer.byteLength(def.code));
    assert.deepEqual(header.env, { A: "1" });
    assert.equal(header.logLimit, 1024);
    assert.equal(code!.toString(), def.code);
  });
});

describe("runner → agent frames", () => {
  test("splits results with their output and logs, whatever the chunking", () => {
    const all = Buffer.concat([
      frameBytes({ t: "ready", protocol: 2 }),
      frameBytes({ t: "result", id: "1", ok: true, outputBytes: 7, logBytes: 3 }, '{"a":1}', "hi\n"),
      frameBytes({ t: "result", id: "2", ok: false, error: { type: "ValueError", message: "no" }, logBytes: 0 }),
    ]);
    for (const size of [1, 2, 5, 17, all.length]) {
      const { d, frames } = decoder();
      for (let i = 0; i < all.length; i += size) d.feed(all.subarray(i, i + size));
      assert.equal(frames.length, 3, `chunk ${size}`);
      assert.equal(frames[1]!.output.toString(), '{"a":1}');
      assert.equal(frames[1]!.logs.toString(), "hi\n");
      assert.equal(frames[2]!.frame.t, "result");
    }
  });

  test("newlines inside a payload are payload, not frames", () => {
    const { d, frames } = decoder();
    d.feed(frameBytes({ t: "result", id: "1", ok: true, outputBytes: 4, logBytes: 10 }, "null", "\n\n\n\n\n\n\n\n\n\n"));
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.logs.length, 10);
  });

  const violations: Array<[string, Buffer]> = [
    ["a header that is not JSON", Buffer.from("not json\n")],
    ["an unknown frame type", frameBytes({ t: "hello" })],
    ["an unknown field", frameBytes({ t: "init_ok", extra: 1 })],
    ["logs over the limit", frameBytes({ t: "result", id: "1", ok: true, outputBytes: 0, logBytes: 1025 })],
    ["output over the limit", frameBytes({ t: "result", id: "1", ok: true, outputBytes: 4097 })],
    ["a negative length", frameBytes({ t: "result", id: "1", ok: true, outputBytes: -1 })],
    ["logs that are an object", frameBytes({ t: "init_ok", logs: { a: 1 } })],
    ["an error that is null", frameBytes({ t: "result", id: "1", ok: false, error: null })],
    ["a header line over 64 KiB", Buffer.from("x".repeat(70 * 1024))],
  ];
  for (const [name, bytes] of violations) {
    test(`${name} is a protocol violation, never a crash`, () => {
      const { d, frames } = decoder();
      assert.throws(() => d.feed(bytes), ProtocolViolation);
      assert.equal(frames.length, 0);
    });
  }
});

describe("the result frame's fast path", () => {
  const schema = runnerFrameSchema(limits);
  const base = { t: "result", id: "17", ok: true, outputBytes: 12, logBytes: 3, logsTruncated: false };
  // Frames a hostile or broken runner might write, each one change away from the common frame.
  const variants: unknown[] = [
    base,
    { t: "result", id: "17", ok: true },
    { ...base, logsTruncated: true },
    { ...base, outputBytes: limits.outputBytes, logBytes: limits.logBytes },
    { ...base, outputBytes: limits.outputBytes + 1 },
    { ...base, logBytes: limits.logBytes + 1 },
    { ...base, outputBytes: -1 },
    { ...base, outputBytes: 1.5 },
    { ...base, outputBytes: "12" },
    { ...base, outputBytes: null },
    { ...base, logsTruncated: "no" },
    { ...base, logsTruncated: null },
    { ...base, ok: false },
    { ...base, ok: "true" },
    { ...base, id: 17 },
    { ...base, id: "x".repeat(32) },
    { ...base, id: "x".repeat(33) },
    { ...base, t: "fault" },
    { ...base, extra: 1 },
    { ...base, retire: "left a thread" },
    { ...base, error: { type: "E", message: "m" } },
    { ...base, exit: { code: 1 } },
    JSON.parse('{"t":"result","id":"1","ok":true,"__proto__":{"x":1}}'),
    JSON.parse('{"t":"result","id":"1","ok":true,"constructor":1}'),
    [base],
    null,
    "result",
  ];

  test("takes the common frame and gives exactly what the schema gives", () => {
    assert.deepEqual(plainResult(base, limits), schema.parse(base));
    assert.deepEqual(plainResult({ t: "result", id: "1", ok: true }, limits), schema.parse({ t: "result", id: "1", ok: true }));
  });

  test("never accepts what the schema refuses, and never differs from it", () => {
    let fast = 0;
    for (const v of variants) {
      const mine = plainResult(v, limits);
      const theirs = schema.safeParse(v);
      if (mine === undefined) continue;
      fast++;
      assert.ok(theirs.success, `the fast path took a frame the schema refuses: ${JSON.stringify(v)}`);
      assert.deepEqual(mine, theirs.data, `the fast path differs from the schema on ${JSON.stringify(v)}`);
    }
    assert.ok(fast >= 5, `the fast path took only ${fast} frames`);
  });

  test("a frame off the fast path is still checked by the schema in the decoder", () => {
    const { d, frames } = decoder();
    assert.throws(() => d.feed(frameBytes({ ...base, outputBytes: limits.outputBytes + 1 })), ProtocolViolation);
    const ok = decoder();
    ok.d.feed(frameBytes({ ...base, retire: "left a thread", outputBytes: 2, logBytes: 0 }, "{}"));
    assert.equal(ok.frames.length, 1);
    assert.equal(ok.frames[0]!.frame.t === "result" && ok.frames[0]!.frame.retire, "left a thread");
    assert.equal(frames.length, 0);
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

describe("JSON scanner", () => {
  const valid = ["1", "-0.5e+3", '"a\\u00e9\\n"', "[]", "{}", '{"a":[1,{"b":null}],"c":true}', " [ 1 , 2 ] ", '"é"', "0", "1E5"];
  const invalid = ["", "[", "[1,]", '{"a"}', "01", "1.", '"\u0001"', "tru", "[1] x", '{"a":1,}', "nul", "{1:2}", '"\\x"', "-", "[1 2]"];
  test("agrees with JSON.parse on valid and invalid text", () => {
    for (const t of valid) assert.equal(scanJson(Buffer.from(t), 10).ok, true, t);
    for (const t of invalid) {
      assert.equal(scanJson(Buffer.from(t), 10).ok, false, JSON.stringify(t));
      assert.throws(() => JSON.parse(t));
    }
  });

  test("counts depth exactly, without recursion, at any depth", () => {
    const nested = (n: number) => Buffer.from("[".repeat(n) + "]".repeat(n));
    assert.deepEqual(scanJson(nested(1000), 1000), { ok: true, depth: 1000 });
    assert.deepEqual(scanJson(nested(1001), 1000), { ok: false, reason: "depth", at: 1000 });
    assert.equal(scanJson(nested(100_000), 1000).ok, false);
    assert.deepEqual(scanJson(Buffer.from('{"a":{"b":[{}]}}'), 10), { ok: true, depth: 4 });
  });
});
