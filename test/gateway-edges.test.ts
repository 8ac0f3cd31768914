// The gateway's edges on a real nats-server: an over-limit body gets its 413 even from a client that sends it all
// before reading, code and env values are limited in UTF-8 bytes, the JSON nesting limit is the same error on HTTP,
// gRPC and NATS, and a NATS server whose max_payload is too small is refused at start.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect as tcpConnect, type Socket } from "node:net";
import { once } from "node:events";
import { Metadata, type ServiceError } from "@grpc/grpc-js";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { startGateway } from "../gateway/app.js";
import { loadGatewayConfig } from "../gateway/config.js";
import { HEADERS } from "../shared/headers.js";
import { LIMITS } from "../shared/limits.js";
import { invokeSubject } from "../shared/subjects.js";
import { toProtoValue } from "../gateway/json-value.js";
import { startNats } from "./harness/nats.js";
import { deepValue, invokeRequest } from "./fixtures/proto-wire.js";
import {
  FakeController,
  Responder,
  grpcCall,
  grpcClients,
  grpcError,
  http,
  startGatewayProcess,
  startGatewayUnderTest,
  testLog,
  uniqueName,
  until,
  type GatewayUnderTest,
  type GrpcClients,
} from "./gateway-fixtures.js";

const MiB = 1024 * 1024;
const JS = "exports.handler = async (e) => e";

let g: GatewayUnderTest;
let responder: Responder;
let controller: FakeController;
let grpc: GrpcClients;

before(async () => {
  g = await startGatewayUnderTest();
  responder = await new Responder(g.nc).start();
  controller = await new FakeController(g.nc, g.kv).start();
  grpc = grpcClients(g.grpcAddress);
});

after(async () => {
  grpc?.close();
  responder?.stop();
  controller?.stop();
  await g?.stop();
});

async function deploy(name: string): Promise<void> {
  const res = await http(g.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: JS });
  assert.ok(res.status === 201 || res.status === 200, JSON.stringify(res.body));
}

// ---- a raw HTTP/1.1 client: the whole request in one write, then the answer ----

interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: any;
}

/** Reads one response off the socket (Content-Length framed, as the gateway always answers). */
async function readResponse(socket: Socket): Promise<RawReply> {
  let buf = Buffer.alloc(0);
  for (;;) {
    const head = buf.indexOf("\r\n\r\n");
    if (head >= 0) {
      const lines = buf.subarray(0, head).toString("latin1").split("\r\n");
      const headers = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
      const length = Number(headers["content-length"]);
      if (buf.length >= head + 4 + length) {
        const body = buf.subarray(head + 4, head + 4 + length).toString("utf8");
        socket.unshift(buf.subarray(head + 4 + length));
        return { status: Number(lines[0]!.split(" ")[1]), headers, body: body ? JSON.parse(body) : undefined };
      }
    }
    const chunk = socket.read() as Buffer | null;
    if (chunk) buf = Buffer.concat([buf, chunk]);
    else {
      const [ended] = await Promise.race([once(socket, "readable").then(() => [false]), once(socket, "end").then(() => [true])]);
      if (ended && !socket.readableLength) throw new Error(`connection closed after ${buf.length} bytes: ${buf.toString("latin1").slice(0, 200)}`);
    }
  }
}

function rawRequest(method: string, path: string, body: Buffer, extra = ""): Buffer {
  const head = `${method} ${path} HTTP/1.1\r\nhost: weft\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n${extra}\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), body]);
}

async function rawSocket(): Promise<Socket> {
  const socket = tcpConnect(Number(new URL(separate.httpUrl).port), "127.0.0.1");
  await once(socket, "connect");
  socket.pause();
  return socket;
}

const overLimitEvent = () => Buffer.from(JSON.stringify({ pad: "x".repeat(7 * MiB) }));

/** The over-limit cases talk to a gateway process of its own: before the fix, fetch saw EPIPE only from one. */
let separate: { httpUrl: string; stop(): Promise<void> };

describe("an over-limit body", () => {
  before(async () => {
    separate = await startGatewayProcess(g.nats.url);
  });
  after(async () => {
    await separate?.stop();
  });

  test("Node's fetch gets the 413, every time, for a 7 MiB event sent in one go", async () => {
    const name = uniqueName("big");
    await deploy(name);
    const body = overLimitEvent();
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${separate.httpUrl}/v1/functions/${name}/invoke`, { method: "POST", body, headers: { "content-type": "application/json" } });
      assert.equal(res.status, 413, `attempt ${i + 1}`);
      const error = ((await res.json()) as { error: { code: string; field: string } }).error;
      assert.equal(error.code, "PAYLOAD_TOO_LARGE");
      assert.equal(error.field, "event");
    }
    const put = await fetch(`${separate.httpUrl}/v1/functions/${name}`, {
      method: "PUT",
      body: JSON.stringify({ runtime: "nodejs", code: "x".repeat(LIMITS.functionBodyBytes) }),
      headers: { "content-type": "application/json" },
    });
    assert.equal(put.status, 413, "a PUT over its 10 MiB limit too");
    assert.equal(((await put.json()) as { error: { field: string } }).error.field, "body");
  });

  test("a raw socket writing all 7 MiB at once reads its 413, and the connection then serves the next request", async () => {
    const name = uniqueName("raw");
    await deploy(name);
    const socket = await rawSocket();
    try {
      socket.write(rawRequest("POST", `/v1/functions/${name}/invoke`, overLimitEvent()));
      const refused = await readResponse(socket);
      assert.equal(refused.status, 413);
      assert.equal(refused.body.error.code, "PAYLOAD_TOO_LARGE");
      assert.notEqual(refused.headers.connection, "close", "the body was read to its end, so the connection is clean");
      socket.write(rawRequest("POST", `/v1/functions/${name}/invoke`, Buffer.from('{"after": 413}')));
      const next = await readResponse(socket);
      assert.equal(next.status, 200);
      assert.deepEqual(next.body.output, { echo: { after: 413 } });
    } finally {
      socket.destroy();
    }
  });

  test("a chunked body is read past the limit too, then answered 413", async () => {
    const name = uniqueName("chunked");
    await deploy(name);
    const socket = await rawSocket();
    try {
      const head = `POST /v1/functions/${name}/invoke HTTP/1.1\r\nhost: weft\r\ntransfer-encoding: chunked\r\n\r\n`;
      const event = overLimitEvent();
      socket.write(Buffer.concat([Buffer.from(head), Buffer.from(`${event.length.toString(16)}\r\n`), event, Buffer.from("\r\n0\r\n\r\n")]));
      const refused = await readResponse(socket);
      assert.equal(refused.status, 413);
      assert.equal(refused.body.error.field, "event");
    } finally {
      socket.destroy();
    }
  });

  test(`past ${LIMITS.overLimitDrainBytes} bytes the gateway stops reading and closes; it keeps serving`, async () => {
    const name = uniqueName("huge");
    await deploy(name);
    const socket = await rawSocket();
    try {
      // Declared, so the gateway can refuse it from the headers alone.
      socket.write(`POST /v1/functions/${name}/invoke HTTP/1.1\r\nhost: weft\r\ncontent-length: ${LIMITS.overLimitDrainBytes + 1}\r\n\r\n`);
      const refused = await readResponse(socket);
      assert.equal(refused.status, 413);
      assert.equal(refused.headers.connection, "close");
      await once(socket, "end");
    } finally {
      socket.destroy();
    }
    const res = await http(separate.httpUrl, "POST", `/v1/functions/${name}/invoke`, { still: "up" });
    assert.equal(res.status, 200);
  });
});

describe("sizes in UTF-8 bytes", () => {
  test("code: exactly 4 MiB of UTF-8 is accepted, one byte more is 413 naming code, however few UTF-16 units it takes", async () => {
    const name = uniqueName("utf8");
    const twoByte = "é".repeat(LIMITS.codeBytes / 2); // 2 MiB units, 4 MiB bytes
    assert.equal(Buffer.byteLength(twoByte), LIMITS.codeBytes);
    const exact = await http(g.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: `//${twoByte.slice(1)}` });
    assert.equal(exact.status, 201, JSON.stringify(exact.body)?.slice(0, 300));
    assert.equal(exact.body.codeBytes, LIMITS.codeBytes);
    const cases = [
      `//${twoByte}`, // one byte over, in 2 Mi + 2 units
      "€".repeat(1_466_000), // 4.4 MB of UTF-8 in 1.47 M units
      "🚀".repeat(LIMITS.codeBytes / 4 + 1), // four bytes per character
    ];
    for (const code of cases) {
      const res = await http(g.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code });
      assert.equal(res.status, 413, `${Buffer.byteLength(code)} bytes in ${code.length} units`);
      assert.equal(res.body.error.code, "PAYLOAD_TOO_LARGE");
      assert.equal(res.body.error.field, "code");
      assert.match(res.body.error.message, /4194304 bytes of UTF-8/);
    }
    const grpcRefusal = await grpcError(grpcCall(grpc.functions, "PutFunction", { name, spec: { runtime: "nodejs", code: cases[1] } }));
    assert.equal(grpcRefusal.weftCode, "PAYLOAD_TOO_LARGE", "gRPC checks the same bytes");
    assert.equal(grpcRefusal.weftField, "code");
  });

  test("an env value is limited in bytes too", async () => {
    const name = uniqueName("envb");
    const limit = LIMITS.envVars.valueBytes;
    const ok = await http(g.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: JS, env: { K: "é".repeat(limit / 2) } });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const over = await http(g.httpUrl, "PUT", `/v1/functions/${name}`, { runtime: "nodejs", code: JS, env: { K: `${"é".repeat(limit / 2)}x` } });
    assert.equal(over.status, 400);
    assert.equal(over.body.error.field, "env.K");
  });
});

// ---- the nesting limit, on the three front doors ----

function nested(depth: number, kind: "array" | "object"): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = kind === "array" ? [v] : { a: v };
  return v;
}

const TOO_DEEP = new RegExp(`^event: nested deeper than ${LIMITS.jsonDepth} levels`);

/** A gRPC InvokeAsync whose request bytes are sent as they are (protobufjs could not encode the deepest ones). */
function rawInvokeAsync(bytes: Buffer): Promise<unknown> {
  return new Promise((resolve, reject) =>
    grpc.invocations.makeUnaryRequest(
      "/weft.v1.InvocationService/InvokeAsync",
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      new Metadata(),
      { deadline: Date.now() + 30_000 },
      (err: ServiceError | null, res?: Buffer) => (err ? reject(err) : resolve(res)),
    ),
  );
}

async function natsRefusal(name: string, event: Buffer | string): Promise<{ code: string | undefined; body: any }> {
  const h = natsHeaders();
  h.set(HEADERS.async, "true");
  const reply = await g.nc.request(invokeSubject(name), event, { timeout: 10_000, headers: h });
  return { code: reply.headers?.get(HEADERS.errorCode), body: reply.json() };
}

describe(`events nested up to ${LIMITS.jsonDepth} levels`, () => {
  test(`${LIMITS.jsonDepth} levels are accepted on HTTP, gRPC and NATS, and the job carries them`, async () => {
    const name = uniqueName("deep-ok");
    await deploy(name);
    for (const kind of ["array", "object"] as const) {
      const event = nested(LIMITS.jsonDepth, kind);
      const text = JSON.stringify(event);
      const viaHttp = await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke?async=true`, text);
      assert.equal(viaHttp.status, 202, JSON.stringify(viaHttp.body));
      const viaGrpc = await grpcCall(grpc.invocations, "InvokeAsync", { name, event: toProtoValue(event, "event") });
      assert.equal(viaGrpc.status, "queued");
      const h = natsHeaders();
      h.set(HEADERS.async, "true");
      const viaNats = (await g.nc.request(invokeSubject(name), text, { timeout: 10_000, headers: h })).json<any>();
      assert.equal(viaNats.status, "queued", JSON.stringify(viaNats));
      for (const id of [viaHttp.body.invocationId, viaGrpc.invocationId, viaNats.invocationId]) {
        const jobOf = () => responder.jobs.find((j) => j.headers[HEADERS.invocationId] === id);
        await until(() => jobOf() !== undefined, `job ${id}`);
        assert.deepEqual(JSON.parse(jobOf()!.data), event, `${kind} via ${id}`);
      }
    }
    const sync = await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke`, JSON.stringify(nested(LIMITS.jsonDepth - 1, "array")));
    assert.equal(sync.status, 200, "a sync call answers with the output");
  });

  test(`${LIMITS.jsonDepth + 1} levels, or a million, are the same 400 on HTTP, gRPC and NATS`, async () => {
    const name = uniqueName("deep-no");
    await deploy(name);
    const before = responder.jobs.length;
    const shapes: Array<[string, Buffer, Buffer]> = [];
    for (const kind of ["array", "object"] as const) {
      shapes.push([`${kind} ${LIMITS.jsonDepth + 1}`, Buffer.from(JSON.stringify(nested(LIMITS.jsonDepth + 1, kind))), deepValue(LIMITS.jsonDepth + 1, kind)]);
    }
    const million = Buffer.from("[".repeat(1_000_000) + "]".repeat(1_000_000));
    shapes.push(["a million arrays", million, deepValue(1_000_000, "array")]);
    // Deep, with brackets and escaped quotes in big strings around it (they do not count, the nesting does).
    const padded = Buffer.from(`{"pad": ${JSON.stringify(`[{"\\`.repeat(500_000))}, "deep": ${"[".repeat(1001)}1${"]".repeat(1001)}}`);
    shapes.push(["deep among bracket-filled strings", padded, deepValue(1001, "array")]);
    for (const [what, json, value] of shapes) {
      const viaHttp = await http(g.httpUrl, "POST", `/v1/functions/${name}/invoke`, json);
      assert.equal(viaHttp.status, 400, what);
      assert.equal(viaHttp.body.error.code, "INVALID_ARGUMENT", what);
      assert.equal(viaHttp.body.error.field, "event", what);
      assert.match(viaHttp.body.error.message, TOO_DEEP, what);

      const viaGrpc = await grpcError(rawInvokeAsync(invokeRequest(name, value)));
      assert.equal(viaGrpc.weftCode, "INVALID_ARGUMENT", `${what}: ${viaGrpc.details}`);
      assert.equal(viaGrpc.weftField, "event", what);
      assert.equal(viaGrpc.details, viaHttp.body.error.message, `${what}: the same message`);

      const viaNats = await natsRefusal(name, json);
      assert.equal(viaNats.code, "INVALID_ARGUMENT", what);
      assert.deepEqual(viaNats.body.error, viaHttp.body.error, `${what}: the same error body`);
    }
    assert.equal(responder.jobs.length, before, "nothing too deep was queued");
  });

  test("gRPC bytes that are not an InvokeRequest are INVALID_ARGUMENT, not INTERNAL", async () => {
    const refused = await grpcError(rawInvokeAsync(Buffer.from([0x12, 0x7f, 0x32])));
    assert.equal(refused.weftCode, "INVALID_ARGUMENT", refused.details);
    assert.equal(refused.weftField, "request");
  });
});

describe("the NATS server's max_payload", () => {
  test("a gateway refuses to start on a server allowing less than Weft needs, naming the variable", async () => {
    const small = await startNats({ maxPayload: 1024 * 1024 });
    try {
      await assert.rejects(
        startGateway(loadGatewayConfig({ WEFT_NATS_URL: small.url, WEFT_HTTP_PORT: "0", WEFT_GRPC_PORT: "0" }), testLog("small-payload")),
        (err: Error) => /WEFT_NATS_URL/.test(err.message) && /max_payload/.test(err.message) && err.message.includes(String(LIMITS.natsMaxPayloadBytes)),
      );
    } finally {
      await small.cleanup();
    }
  });
});
