// Limits at every edge, pushed the way an attacker pushes them: deep and huge events, oversized bodies sent
// all at once, code measured in the wrong unit, outputs over 6 MiB at any size, deep outputs through gRPC and
// NATS, logs cut inside multi-byte characters. Issue 6 items 2 and 7.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Metadata, credentials, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { connect, headers as natsHeaders } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { eventually } from "../harness/eventually.js";
import { pyHandler } from "./kit-python.js";
import { jsHandler } from "./kit-node.js";
import { BATCH, ISOLATIONS, RUNTIMES, describeResult, hostileSuite, type Hostile, type Isolation, type Runtime } from "./suite.js";
import { JSON_DEPTH, OUTPUT_TOO_DEEP, depthOf, nestedJson } from "./outcomes.js";
import { loadWeftProto, toProtoValue } from "../bench/grpc-client.js";
import { invokeSubject, jobSubject } from "../../shared/subjects.js";
import { HEADERS } from "../../shared/headers.js";
import { LIMITS } from "../../shared/limits.js";

const suite = hostileSuite();

const MiB = 1024 * 1024;
type Where = { runtime: Runtime; isolation: Isolation };

/** Depth of the event, walked without recursion, and the size of an output on request. */
const PROBE = {
  py: pyHandler(`if "size" in event:
    return "x" * (event["size"] - 2)
if "logBytes" in event:
    sys.stdout.write("\\u00e9\\u20ac" * (event["logBytes"] // 5))
    return {"genuine": True}
d, x = 0, event["nested"] if isinstance(event, dict) and "nested" in event else event
while isinstance(x, (list, dict)) and x:
    x = x[0] if isinstance(x, list) else next(iter(x.values()))
    d += 1
return {"genuine": True, "depth": d}`),
  js: jsHandler(`if (event && event.size !== undefined) return "x".repeat(event.size - 2);
if (event && event.logBytes !== undefined) { process.stdout.write("\\u00e9\\u20ac".repeat(Math.floor(event.logBytes / 5))); return { genuine: true }; }
let d = 0, x = event && !Array.isArray(event) && event.nested !== undefined ? event.nested : event;
while (x !== null && typeof x === "object" && Object.keys(x).length) { x = Array.isArray(x) ? x[0] : Object.values(x)[0]; d++; }
return { genuine: true, depth: d };`),
};

async function probeFunction(h: Hostile, where: Where, label: string, limits: Record<string, number> = {}): Promise<string> {
  const name = h.name(label);
  await h.deploy(name, { ...where, code: where.runtime === "python3" ? PROBE.py : PROBE.js, limits: { timeoutMs: 20_000, ...limits } });
  return name;
}

const nestedObjects = (depth: number): string => '{"a":'.repeat(depth) + "0" + "}".repeat(depth);

/** A client of the gateway's gRPC API, for the cases that go that way. */
function grpc(h: Hostile) {
  const weft = loadWeftProto();
  const opts = { "grpc.max_receive_message_length": 64 * MiB, "grpc.max_send_message_length": 64 * MiB };
  const clients = {
    functions: new weft.FunctionService(h.fabric.grpcAddress, credentials.createInsecure(), opts),
    invocations: new weft.InvocationService(h.fabric.grpcAddress, credentials.createInsecure(), opts),
  };
  const call = (client: any, method: string, req: unknown) =>
    new Promise<{ err: ServiceError | null; res: any }>((resolve) => client[method](req, new Metadata(), (err: ServiceError | null, res: any) => resolve({ err, res })));
  return { ...clients, call, close: () => Object.values(clients).forEach((c) => c.close()) };
}

describe("limits", { concurrency: BATCH }, () => {
  suite.baselines();
  for (const isolation of ISOLATIONS) {
    for (const runtime of RUNTIMES) {
      const where = { runtime, isolation };

      suite.case(`sends events nested ${JSON_DEPTH} levels deep (arrays, objects): they run`, where, async (h) => {
        const name = await probeFunction(h, where, "deep-event");
        for (const [shape, text] of [["arrays", nestedJson(JSON_DEPTH)], ["objects", nestedObjects(JSON_DEPTH)]] as const) {
          const r = await h.settled(await h.invoke(name, text), ["ok"], `a ${JSON_DEPTH}-deep event of ${shape}`);
          assert.equal((r.output as { depth: number }).depth, JSON_DEPTH, describeResult(r));
        }
      });

      suite.case("sends events nested 100,000 and 3,000,000 levels deep (up to 6 MiB): refused with 400 naming the nesting limit, or run", where, async (h) => {
        const name = await probeFunction(h, where, "deeper-event");
        for (const depth of [100_000, Math.floor((LIMITS.payloadBytes - 16) / 2)]) {
          const a = await h.invoke(name, nestedJson(depth));
          if (a.status === 400) {
            assert.equal(a.body.error.code, "INVALID_ARGUMENT");
            assert.match(a.body.error.message, /1,?000/, `the 400 does not name the nesting limit: ${a.body.error.message}`);
            continue;
          }
          const r = await h.settled(a, ["ok"], `a ${depth}-deep event`);
          assert.equal((r.output as { depth: number }).depth, depth);
        }
      });

      suite.case("publishes a 100,000-deep event straight to weft.jobs.{name} and through weft.invoke.{name}: it runs or is refused, and its record stays readable", where, async (h) => {
        const name = await probeFunction(h, where, "deep-nats");
        const event = nestedJson(100_000);
        const nc = await connect({ servers: h.fabric.nats.url });
        try {
          const ack = await jetstream(nc).publish(jobSubject(name), event);
          // README: "an agent runs it with invocation id js-<stream sequence>-<time it was stored, base 36 ms>".
          const documented = `js-${ack.seq}-`;
          await eventually(async () => (h.tap.idsStartingWith(documented).length ? true : undefined), `a final record of ${documented}…`, 30_000);
          const id = h.tap.idsStartingWith(documented)[0]!;
          const first = h.tap.finalsOf(id)[0]!;
          assert.equal(first.attempt, 1, `the final record is of attempt ${first.attempt}`);
          if (first.status === "ok") assert.match(first.output ?? "", /"depth":100000/);
          else assert.equal(first.error?.code, "INVALID_EVENT", `${first.status} ${first.error?.code} ${first.error?.message}`);
          await h.storedRecord(id, "the JetStream job");
          assert.match(id, /^js-\d+-[0-9a-z]+$/, `the job ran as ${id}, not as documented`);
          const reply = await nc.request(invokeSubject(name), event, { timeout: 30_000 });
          const code = reply.headers?.get(HEADERS.errorCode);
          if (code) assert.match(reply.json<any>().error.message, /1,?000/, `the NATS refusal does not name the nesting limit: ${reply.string().slice(0, 200)}`);
          else {
            const r = reply.json<any>();
            assert.equal(r.status, "ok", describeResult(r));
            await h.storedRecord(r.invocationId, "the NATS request");
          }
        } finally {
          await nc.close();
        }
      });

      suite.case("returns outputs over 6 MiB (6 MiB + 1 byte, 20 MiB): OUTPUT_TOO_LARGE each time, and the next call works", where, async (h) => {
        const name = await probeFunction(h, where, "big-out");
        for (const size of [LIMITS.payloadBytes + 1, 20 * MiB]) {
          const r = await h.settled(await h.invoke(name, { size }), ["error"], `an output of ${size} bytes`);
          assert.equal(r.error?.code, "OUTPUT_TOO_LARGE", describeResult(r));
          const next = await h.settled(await h.invoke(name, { size: 12 }), ["ok"], `the call after the ${size}-byte output`);
          assert.equal(next.output, "x".repeat(10));
        }
      });

      suite.case("throws errors with a 1 MiB message, 300,000 control characters and a 1,000-character type: HANDLER_ERROR with the message cut, and the next call works", where, async (h) => {
        const name = h.name("long-error");
        const code = runtime === "python3"
          ? pyHandler(`if event.get("fine"):
    return {"genuine": True}
message = "\x01" * 300000 if event.get("ctl") else "m" * (1 << 20)
raise type("E" * 1000, (Exception,), {})(message)`)
          : jsHandler(`if (event.fine) return { genuine: true };
const e = new Error(event.ctl ? "\x01".repeat(300000) : "m".repeat(1 << 20));
e.name = "E".repeat(1000);
throw e;`);
        await h.deploy(name, { ...where, code, limits: { timeoutMs: 20_000 } });
        for (const ctl of [false, true]) {
          const r = await h.settled(await h.invoke(name, JSON.stringify({ ctl })), ["error"], ctl ? "control characters" : "a 1 MiB message");
          assert.equal(r.error?.code, "HANDLER_ERROR", describeResult(r));
          const error = r.error as { message: string; type?: string };
          assert.ok(error.message.length > 0 && error.message.length <= 16 * 1024, `message of ${error.message.length} characters`);
          assert.ok(error.message.startsWith(ctl ? "\x01" : "mmm"), "the message is the handler's own, cut");
          assert.ok((error.type ?? "").length <= 200 && (error.type ?? "").startsWith("EEE"), `type ${error.type?.slice(0, 20)}…`);
        }
        await h.settled(await h.invoke(name, JSON.stringify({ fine: true })), ["ok"], "the next call");
      });

      suite.case("returns an output 100 bytes under 6 MiB: intact", where, async (h) => {
        const name = await probeFunction(h, where, "edge-out");
        const size = LIMITS.payloadBytes - 100;
        const r = await h.settled(await h.invoke(name, { size }), ["ok"], "an output just under the limit");
        assert.equal((r.output as string).length, size - 2);
      });

      suite.case("prints 1 MiB of multi-byte characters: logs cut at 256 KiB on a character boundary", where, async (h) => {
        const name = await probeFunction(h, where, "utf8-logs");
        const r = await h.settled(await h.invoke(name, { logBytes: MiB }), ["ok"], "the flood of é€");
        assert.equal(r.logsTruncated, true);
        assert.ok(Buffer.byteLength(r.logs) <= LIMITS.logBytes, `logs are ${Buffer.byteLength(r.logs)} bytes`);
        assert.ok(!r.logs.includes("\uFFFD"), "the cut split a character");
      });
    }

    suite.case("posts a 7 MiB body all at once with Node's fetch, three times: a 413 each time, not EPIPE", { isolation }, async (h) => {
      const name = await probeFunction(h, { runtime: "nodejs", isolation }, "big-body");
      const body = Buffer.from(JSON.stringify({ x: "a".repeat(7 * MiB) }));
      for (let i = 0; i < 3; i++) {
        const answer = await fetch(`${h.fabric.httpUrl}/v1/functions/${name}/invoke`, { method: "POST", body, headers: { "content-type": "application/json" } }).then(
          async (res) => ({ status: res.status, body: await res.text() }),
          (err: Error & { cause?: Error }) => ({ status: 0, body: `${err.message}: ${err.cause?.message}` }),
        );
        assert.equal(answer.status, 413, `attempt ${i + 1}: ${answer.body.slice(0, 300)}`);
        assert.equal(JSON.parse(answer.body).error.code, "PAYLOAD_TOO_LARGE");
      }
      await h.settled(await h.invoke(name, { nested: [[0]] }), ["ok"], "a call after the big bodies");
    });

    suite.case("sends a 7 MiB event over gRPC and over NATS: RESOURCE_EXHAUSTED / PAYLOAD_TOO_LARGE", { isolation }, async (h) => {
      const name = await probeFunction(h, { runtime: "nodejs", isolation }, "big-event");
      const g = grpc(h);
      try {
        const { err } = await g.call(g.invocations, "Invoke", { name, event: toProtoValue({ x: "a".repeat(7 * MiB) }) });
        assert.equal(err?.code, GrpcStatus.RESOURCE_EXHAUSTED, `gRPC: ${err?.code} ${err?.details}`);
        assert.equal(err?.metadata.get("weft-error-code")[0], "PAYLOAD_TOO_LARGE");
      } finally {
        g.close();
      }
      const nc = await connect({ servers: h.fabric.nats.url });
      try {
        const reply = await nc.request(invokeSubject(name), JSON.stringify({ x: "a".repeat(7 * MiB) }), { timeout: 20_000 });
        assert.equal(reply.headers?.get(HEADERS.errorCode), "PAYLOAD_TOO_LARGE", reply.string().slice(0, 300));
      } finally {
        await nc.close();
      }
    });

    suite.case("deploys 4.4 MB of UTF-8 code in 2.2 M characters (under 4 Mi UTF-16 units) over HTTP and gRPC: refused naming code", { isolation }, async (h) => {
      const code = `exports.handler = async () => 1;\n// ${"é".repeat(2_200_000)}\n`;
      assert.ok(Buffer.byteLength(code) > LIMITS.codeBytes && code.length < LIMITS.codeBytes);
      const name = h.name("big-code");
      const res = await h.request("PUT", `/v1/functions/${name}`, { runtime: "nodejs", isolation, code });
      assert.ok(res.status === 400 || res.status === 413, `HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      assert.equal(res.body.error.field, "code");
      const g = grpc(h);
      try {
        const { err } = await g.call(g.functions, "PutFunction", { name, spec: { runtime: "nodejs", isolation, code } });
        assert.ok(err, "gRPC accepted the code");
        assert.ok([GrpcStatus.INVALID_ARGUMENT, GrpcStatus.RESOURCE_EXHAUSTED].includes(err.code), `gRPC ${err.code} ${err.details}`);
        assert.equal(err.metadata.get("weft-error-field")[0], "code");
      } finally {
        g.close();
      }
      assert.equal((await h.request("GET", `/v1/functions/${name}`)).status, 404, "the function exists after all");
    });

    suite.case("returns a 5,000-deep output to a gRPC and a NATS caller: intact or OUTPUT_TOO_DEEP, never a transport error", { isolation, runtime: "nodejs" }, async (h) => {
      const name = h.name("deep-out-rpc");
      await h.deploy(name, { runtime: "nodejs", isolation, code: jsHandler("let x = 0;\nfor (let i = 0; i < 5000; i++) x = [x];\nreturn x;") });
      const g = grpc(h);
      try {
        const { err, res } = await g.call(g.invocations, "Invoke", { name, event: toProtoValue({}) });
        assert.equal(err, null, `gRPC: ${err?.code} ${err?.details}`);
        if (res.status === "ok") assert.ok(res.output, "no output");
        else assert.equal(res.error?.code, OUTPUT_TOO_DEEP, `gRPC result ${res.status} ${res.error?.code}`);
      } finally {
        g.close();
      }
      const nc = await connect({ servers: h.fabric.nats.url });
      try {
        const reply = await nc.request(invokeSubject(name), "{}", { timeout: 30_000, headers: natsHeaders() });
        const r = reply.json<any>();
        if (r.status === "ok") assert.equal(depthOf(r.output), 5000);
        else assert.equal(r.error?.code, OUTPUT_TOO_DEEP, describeResult(r));
      } finally {
        await nc.close();
      }
    });
  }
});

suite.finally();
