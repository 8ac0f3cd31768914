// Lifecycle: a deleted function stays deleted (its versions, code, env, records and warm containers answer
// 404 or never serve the name's next incarnation, over HTTP, gRPC and NATS); every outcome a handler causes
// is final and recorded once, whichever way it was called. Issue 6 items 1, 2 and 5.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Metadata, credentials, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { connect, headers as natsHeaders } from "@nats-io/transport-node";
import { pyHandler } from "./kit-python.js";
import { jsHandler } from "./kit-node.js";
import { ERROR_NULL, MALFORMED, forger } from "./forgery.js";
import { eventually } from "../harness/eventually.js";
import { BATCH, ISOLATIONS, RUNTIMES, describeResult, hostileSuite, type Hostile, type Runtime } from "./suite.js";
import { RUNTIME_PROTOCOL_ERROR, assertNotForged } from "./outcomes.js";
import { loadWeftProto, toProtoValue } from "../bench/grpc-client.js";
import { invokeSubject } from "../../shared/subjects.js";
import { HEADERS } from "../../shared/headers.js";
import type { InvocationErrorCode } from "../../shared/schemas/invocation.js";

const suite = hostileSuite();

function grpcClients(h: Hostile) {
  const weft = loadWeftProto();
  const functions = new weft.FunctionService(h.fabric.grpcAddress, credentials.createInsecure());
  const invocations = new weft.InvocationService(h.fabric.grpcAddress, credentials.createInsecure());
  const call = (client: any, method: string, req: unknown) =>
    new Promise<{ err: ServiceError | null; res: any }>((resolve) => client[method](req, new Metadata(), (err: ServiceError | null, res: any) => resolve({ err, res })));
  return { functions, invocations, call, close: () => { functions.close(); invocations.close(); } };
}

/** The code of one incarnation: it says which it is and what SECRET it can see. */
const incarnation = (runtime: Runtime, gen: number): string =>
  runtime === "python3"
    ? pyHandler(`time.sleep(event.get("sleep", 0) if isinstance(event, dict) else 0)\nreturn {"gen": ${gen}, "secret": os.environ.get("SECRET")}`)
    : jsHandler(`await new Promise((r) => setTimeout(r, ((event && event.sleep) || 0) * 1000));\nreturn { gen: ${gen}, secret: process.env.SECRET || null };`);

/** Waits for an invocation's stored record to be final and returns it. */
const finalRecord = (h: Hostile, id: string) =>
  eventually(async () => {
    const res = await h.request("GET", `/v1/invocations/${id}`);
    return res.status === 200 && !["queued", "running"].includes(res.body.status) ? res.body : undefined;
  }, `the final record of ${id}`, 30_000);

describe("deleted means deleted", { concurrency: BATCH }, () => {
  suite.baselines();
  for (const isolation of ISOLATIONS) {
    for (const runtime of RUNTIMES) {
      const where = { runtime, isolation };

      suite.case("re-creates a deleted function that held a secret: no version, code, env, record or warm container of the old one answers (HTTP, gRPC, NATS)", where, async (h) => {
        const name = h.name("reborn");
        const secret = `OLD-SECRET-${randomBytes(6).toString("hex")}`;
        const first = await h.request("PUT", `/v1/functions/${name}`, { ...where, env: { SECRET: secret }, code: incarnation(runtime, 1) });
        assert.equal(first.status, 201);
        const old = await h.settled(await h.invoke(name, {}), ["ok"], "the old incarnation");
        assert.deepEqual(old.output, { gen: 1, secret }, "sanity: the old incarnation sees its secret");
        assert.equal((await h.request("DELETE", `/v1/functions/${name}`)).status, 200);

        const again = await h.request("PUT", `/v1/functions/${name}`, { ...where, code: incarnation(runtime, 2) });
        assert.equal(again.status, 201, `re-creating answers ${again.status}: ${JSON.stringify(again.body).slice(0, 200)}`);
        assert.equal(again.body.version, 1, "a re-created function's history starts fresh at version 1");

        const got = await h.request("GET", `/v1/functions/${name}`);
        assert.equal(got.body.code, incarnation(runtime, 2));
        assert.ok(!JSON.stringify(got.body).includes(secret), "GET shows the old secret");
        const v1 = await h.request("GET", `/v1/functions/${name}?version=1`);
        assert.ok(!JSON.stringify(v1.body).includes(secret), `GET ?version=1 shows the old secret: ${JSON.stringify(v1.body).slice(0, 200)}`);
        assert.equal((await h.request("GET", `/v1/functions/${name}?version=2`)).status, 404, "a version of the old incarnation still answers");

        for (const query of ["", "?version=1"]) {
          const r = await h.settled(await h.invoke(name, {}, query), ["ok"], `invoke${query}`);
          assert.deepEqual(r.output, { gen: 2, secret: null }, `invoke${query} ran the old incarnation (or its warm container): ${describeResult(r)}`);
        }
        assert.equal((await h.invoke(name, {}, "?version=2")).status, 404);
        assert.equal((await h.request("GET", `/v1/invocations/${old.invocationId}`)).status, 404, "the old incarnation's record still answers");
        const list = await h.request("GET", `/v1/functions/${name}/invocations?limit=100`);
        const ids = ((list.body?.invocations ?? list.body ?? []) as Array<{ invocationId: string }>).map((r) => r.invocationId);
        assert.ok(!ids.includes(old.invocationId), "the old incarnation's record is listed under the new one");

        const g = grpcClients(h);
        try {
          assert.equal((await g.call(g.functions, "GetFunction", { name, version: 2 })).err?.code, GrpcStatus.NOT_FOUND, "gRPC GetFunction version 2");
          assert.equal((await g.call(g.invocations, "GetInvocation", { invocationId: old.invocationId })).err?.code, GrpcStatus.NOT_FOUND, "gRPC GetInvocation");
          const pinned = await g.call(g.invocations, "Invoke", { name, version: 1, event: toProtoValue({}) });
          assert.equal(pinned.err, null, `gRPC Invoke: ${pinned.err?.details}`);
          assert.equal(pinned.res.output.structValue.fields.gen.numberValue, 2, "gRPC Invoke version 1 ran the old code");
        } finally {
          g.close();
        }
        const nc = await connect({ servers: h.fabric.nats.url });
        try {
          const hdrs = natsHeaders();
          hdrs.set(HEADERS.version, "2");
          const reply = await nc.request(invokeSubject(name), "{}", { timeout: 20_000, headers: hdrs });
          assert.equal(reply.headers?.get(HEADERS.errorCode), "NOT_FOUND", `NATS Weft-Version: 2 → ${reply.string().slice(0, 200)}`);
        } finally {
          await nc.close();
        }
      });
    }

    suite.case("deletes a function while calls are running and queued, then re-creates it: none of them runs the new code", { isolation, runtime: "python3" }, async (h) => {
      const name = h.name("requeue");
      await h.deploy(name, { runtime: "python3", isolation, code: incarnation("python3", 1) });
      await h.settled(await h.invoke(name, {}), ["ok"], "warming");
      const running = h.invoke(name, { sleep: 1.5 });
      const queued: string[] = [];
      for (let i = 0; i < 3; i++) {
        const a = await h.invoke(name, { sleep: 0.2 }, "?async=true");
        assert.equal(a.status, 202);
        queued.push(a.body.invocationId);
      }
      assert.equal((await h.request("DELETE", `/v1/functions/${name}`)).status, 200);
      await h.deploy(name, { runtime: "python3", isolation, code: incarnation("python3", 2) });
      // These calls belong to the deleted incarnation: each ends once (as published on the records stream),
      // never with the new code, and its stored record then answers 404 like the rest of that incarnation.
      const a = await running;
      assert.equal(a.status, 200, `the call running at the delete: HTTP ${a.status} ${JSON.stringify(a.body).slice(0, 200)}`);
      assert.ok(a.body.status === "ok" || a.body.status === "error", describeResult(a.body));
      if (a.body.status === "ok") assert.equal(a.body.output.gen, 1);
      for (const id of [a.body.invocationId as string, ...queued]) {
        const first = await h.tap.firstFinal(id, 30_000);
        assert.equal(first.attempt, 1, `${id}: attempt ${first.attempt}`);
        assert.equal(h.tap.finalsOf(id).length, 1, `${id}: more than one final record`);
        if (first.status === "ok") assert.equal(JSON.parse(first.output ?? "null")?.gen, 1, `a job of the deleted function ran the new code: ${first.output}`);
        else assert.equal(first.error?.code, "FUNCTION_DELETED", `${first.status} ${first.error?.code} ${first.error?.message}`);
        await eventually(async () => ((await h.request("GET", `/v1/invocations/${id}`)).status === 404 ? true : undefined), `the old incarnation's record ${id} to answer 404`, 15_000);
      }
      const fresh = await h.settled(await h.invoke(name, {}), ["ok"], "the new incarnation");
      assert.equal((fresh.output as { gen: number }).gen, 2);
    });
  }
});

describe("outcomes are final", { concurrency: BATCH }, () => {
  for (const isolation of ISOLATIONS) {
    for (const runtime of RUNTIMES) {
      suite.case("ends async calls every way a handler can (throw, timeout, exit, out of memory, not JSON, too large): one final record each, attempt 1", { isolation, runtime }, async (h) => {
        const outcomes: Array<[string, string, string, InvocationErrorCode[]]> = [
          ["throw", 'raise ValueError("mine")', 'throw new TypeError("mine");', ["HANDLER_ERROR"]],
          ["timeout", "time.sleep(5)", "await new Promise((r) => setTimeout(r, 5000));", ["TIMEOUT"]],
          ["exit", "os._exit(3)", "process.exit(3);", ["KILLED"]],
          ["oom", "b = []\nwhile True:\n    b.append(bytearray(16 << 20))", "const b = []; for (;;) b.push(Buffer.alloc(16 << 20, 1));", isolation === "gvisor" ? ["OUT_OF_MEMORY", "KILLED"] : ["OUT_OF_MEMORY"]],
          ["notjson", "return {1, 2}", "return 1n;", ["OUTPUT_NOT_JSON"]],
          ["toolarge", 'return "x" * (7 << 20)', 'return "x".repeat(7 << 20);', ["OUTPUT_TOO_LARGE"]],
        ];
        const names: string[] = [];
        try {
          // Deployed one after the other (a burst of PUTs only measures the controller), then all invoked at once.
          for (const [label, py, js] of outcomes) {
            const name = h.name(`own-${label}`);
            names.push(name);
            // Only the timeout case is short: building a 7 MiB output on a loaded machine may take a second.
            const timeoutMs = label === "timeout" ? 1000 : 15_000;
            // No user retries (an async failure is retried by the function's policy, issue 10): what this checks is
            // that the platform itself never runs a call again once its handler has run.
            await h.deploy(name, { runtime, isolation, async: { maxRetries: 0 }, limits: { timeoutMs, memoryMb: 128 }, code: runtime === "python3" ? pyHandler(py) : jsHandler(js) });
          }
          const started = await Promise.all(names.map(async (name) => {
            const a = await h.invoke(name, {}, "?async=true");
            assert.equal(a.status, 202);
            return a.body.invocationId as string;
          }));
          for (const [i, id] of started.entries()) {
            const [label, , , codes] = outcomes[i]!;
            const first = await h.tap.firstFinal(id, 30_000);
            assert.equal(first.attempt, 1, `${label}: the final record is of attempt ${first.attempt}`);
            assert.ok(codes.includes(first.error?.code as InvocationErrorCode), `${label}: ${first.status} ${first.error?.code} ${first.error?.message}`);
            const stored = await finalRecord(h, id);
            assert.equal(stored.attempt, 1, `${label}: stored attempt ${stored.attempt}`);
            assert.equal(h.tap.finalsOf(id).length, 1, `${label}: more than one final record`);
          }
        } finally {
          await Promise.all(names.map((n) => h.request("DELETE", `/v1/functions/${n}`)));
        }
      });
    }

    suite.case('answers a NATS requester and a gRPC caller of a handler that forges malformed and {"ok":false,"error":null} frames', { isolation, runtime: "python3" }, async (h) => {
      const names = await Promise.all([MALFORMED, ERROR_NULL].map(async (frames, i) => {
        const name = h.name(`forge-rpc-${i}`);
        await h.deploy(name, { runtime: "python3", isolation, code: forger("python3", { tokens: "everywhere", routes: "everywhere", frames }), limits: { timeoutMs: 10_000 } });
        return name;
      }));
      const nc = await connect({ servers: h.fabric.nats.url });
      const g = grpcClients(h);
      try {
        for (const name of names) {
          const reply = await nc.request(invokeSubject(name), "{}", { timeout: 30_000 }).catch((e: Error) => e);
          assert.ok(!(reply instanceof Error), `NATS: ${reply instanceof Error ? reply.message : ""}`);
          const r = reply.json<any>();
          assert.ok(r.invocationId, `NATS reply: ${reply.string().slice(0, 300)}`);
          assertNotForged(r, "over NATS");
          const { err, res } = await g.call(g.invocations, "Invoke", { name, event: toProtoValue({}) });
          assert.equal(err, null, `gRPC: ${err?.code} ${err?.details}`);
          if (res.status === "killed") assert.equal(res.error?.code, RUNTIME_PROTOCOL_ERROR);
          else assert.equal(res.status, "ok");
        }
      } finally {
        await nc.close();
        g.close();
      }
    });
  }
});

suite.finally();
