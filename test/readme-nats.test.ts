// Every `nats` CLI example in README.md, run as the same operation through nats.js against the real fabric, with the
// outcome the README promises checked. The first test fails when the README gains a `nats` example this file does
// not run, so an example cannot drift from what Weft does. (The CLI's own flags were checked by hand against natscli.)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect, headers, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { eventually, http, startFabric, type Fabric } from "./harness/fabric.js";
import { RecordTap } from "./harness/record-tap.js";

let fabric: Fabric;
let nc: NatsConnection;
let jsm: JetStreamManager;
let tap: RecordTap;

before(async () => {
  fabric = await startFabric();
  nc = await connect({ servers: fabric.nats.url });
  jsm = await jetstreamManager(nc);
  tap = await RecordTap.start(fabric.nats.url);
});
after(async () => {
  await tap?.stop();
  await nc?.close();
  await fabric?.stop();
});

const api = (method: string, path: string, body?: unknown) => http(fabric.httpUrl, method, path, body);
const README = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const HELLO = 'def handler(event, context):\n    return {"hello": event.get("name"), "headers": context.headers, "subject": context.subject}\n';

/** The `nats …` commands of the README: lines of its sh blocks and inline code, without trailing comments. */
function readmeCommands(): string[] {
  const found = new Set<string>();
  for (const block of README.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block[1]!.split("\n")) {
      const cmd = line.trim().replace(/\s+#.*$/, "").trim();
      if (cmd.startsWith("nats ")) found.add(cmd);
    }
  }
  for (const inline of README.matchAll(/`(nats [^`]+)`/g)) found.add(inline[1]!.trim());
  return [...found].sort();
}

const outputsOf = (fn: string) =>
  tap.idsStartingWith("").flatMap((id) => tap.finalsOf(id)).filter((r) => r.functionName === fn && r.status === "ok").map((r) => JSON.parse(String(r.output)));
const nextMessage = (sub: AsyncIterable<Msg>, what: string): Promise<Msg> =>
  Promise.race([
    (async () => {
      for await (const m of sub) return m;
      throw new Error(`the subscription ended: ${what}`);
    })(),
    new Promise<never>((_, no) => setTimeout(() => no(new Error(`no message: ${what}`)), 60_000)),
  ]);
const h = (pairs: Array<[string, string]>) => {
  const out = headers();
  for (const [k, v] of pairs) out.append(k, v);
  return out;
};

/** Each README command, in the README's order of use, as nats.js does it, with its promised outcome checked. */
const RUNS: Array<[string, () => Promise<void>]> = [
  ["nats request weft.invoke.hello '{\"name\":\"nats\"}'", async () => {
    const res = (await nc.request("weft.invoke.hello", '{"name":"nats"}', { timeout: 60_000 })).json<{ status: string; output: { hello: string } }>();
    assert.equal(res.status, "ok");
    assert.equal(res.output.hello, "nats");
  }],
  ["nats request weft.invoke.hello '{\"name\":\"q\"}' -H 'Weft-Async: true'", async () => {
    const res = (await nc.request("weft.invoke.hello", '{"name":"q"}', { timeout: 30_000, headers: h([["Weft-Async", "true"]]) })).json<{ status: string; invocationId: string }>();
    assert.equal(res.status, "queued");
    assert.ok(res.invocationId);
  }],
  ["nats pub weft.invoke.hello '{\"name\":\"fire and forget\"}'", async () => {
    nc.publish("weft.invoke.hello", '{"name":"fire and forget"}');
    await eventually(async () => (outputsOf("hello").some((o) => o.hello === "fire and forget") ? true : undefined), "fire and forget ran");
  }],
  ["nats pub weft.invoke.hello '{\"name\":\"weft\"}' -H 'Nats-Msg-Id: order-1234'", async () => {
    for (let i = 0; i < 2; i++) nc.publish("weft.invoke.hello", '{"name":"weft"}', { headers: h([["Nats-Msg-Id", "order-1234"]]) });
    await nc.flush();
    await eventually(async () => (outputsOf("hello").some((o) => o.hello === "weft") ? true : undefined), "the keyed publish ran");
    nc.publish("weft.invoke.hello", '{"name":"weft"}', { headers: h([["Nats-Msg-Id", "order-1234"]]) });
    await nc.request("weft.invoke.hello", '{"name":"barrier"}', { timeout: 60_000 }); // later than the publishes
    assert.equal(outputsOf("hello").filter((o) => o.hello === "weft").length, 1, "the key ran once");
  }],
  ["nats pub orders.eu.created '{\"name\":\"order 1\"}'", async () => {
    assert.equal((await api("PUT", "/v1/triggers/new-orders", { function: "hello", subject: "orders.*.created" })).status, 201);
    nc.publish("orders.eu.created", '{"name":"order 1"}');
    await eventually(async () => (outputsOf("hello").some((o) => o.hello === "order 1" && o.subject === "orders.eu.created") ? true : undefined), "hello ran with order 1");
  }],
  ["nats pub orders.eu.created '{\"name\":\"order 1\"}' -H 'Order-Id:42' -H 'X-Tag:a' -H 'X-Tag:b'", async () => {
    nc.publish("orders.eu.created", '{"name":"order 2"}', { headers: h([["Order-Id", "42"], ["X-Tag", "a"], ["X-Tag", "b"]]) });
    const out = await eventually(async () => outputsOf("hello").find((o) => o.hello === "order 2"), "the headers reached context");
    assert.deepEqual(out.headers, { "Order-Id": "42", "X-Tag": "a, b" });
  }],
  ["nats stream add ORDERS --subjects 'orders.>' --defaults", async () => {
    await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
    assert.equal((await api("PUT", "/v1/triggers/orders-log", { function: "hello", stream: "ORDERS", filterSubject: "orders.eu.>", maxInFlight: 50 })).status, 201);
  }],
  ["nats pub orders.eu.paid '{\"name\":\"order 1\"}' --count 100", async () => {
    const js = jetstream(nc);
    for (let i = 0; i < 100; i++) await js.publish("orders.eu.paid", '{"name":"paid"}');
    await eventually(async () => (outputsOf("hello").filter((o) => o.hello === "paid").length >= 100 ? true : undefined), "every stored one ran", 120_000);
  }],
  ["nats consumer info ORDERS weft-trigger-orders-log", async () => {
    const info = await eventually(async () => {
      const i = await jsm.consumers.info("ORDERS", "weft-trigger-orders-log");
      return i.num_pending === 0 && i.num_ack_pending === 0 ? i : undefined;
    }, "the trigger's consumer drained");
    assert.equal(info.config.filter_subject, "orders.eu.>");
  }],
  ["nats kv ls weft-triggers", async () => {
    const keys: string[] = [];
    for await (const k of await (await new Kvm(nc).open("weft-triggers")).keys()) keys.push(k);
    assert.deepEqual(keys.sort(), ["new-orders", "orders-log"]);
  }],
  ["nats stream add ORDERS_DONE --subjects orders.done", async () => {
    // ORDERS already captures orders.>, so the README's ORDERS_DONE is shown on a server of its own subjects here.
    await jsm.streams.add({ name: "ORDERS_DONE", subjects: ["done.orders"] });
    assert.deepEqual((await jsm.streams.info("ORDERS_DONE")).config.subjects, ["done.orders"]);
  }],
  ["nats sub orders.done", async () => {
    const sub = nc.subscribe("orders.done", { max: 1 });
    assert.equal((await api("PUT", "/v1/functions/orders", { runtime: "python3", code: "def handler(e, c):\n    if e.get('fail'):\n        raise ValueError('no')\n    return e\n", async: { maxRetries: 1, onSuccess: { subject: "orders.done" } } })).status, 201);
    await api("POST", "/v1/functions/orders/invoke?async=true", { ok: 1 });
    const m = await nextMessage(sub, "the onSuccess record");
    assert.equal(m.headers?.get("Weft-Status"), "ok");
  }],
  ["nats stream view WEFT_RETRIES", async () => {
    await api("POST", "/v1/functions/orders/invoke?async=true", { fail: true });
    // A retry waits in WEFT_RETRIES (a work queue the controller drains when due); its first attempt failed.
    const seen = await eventually(async () => ((await jsm.streams.info("WEFT_RETRIES")).state.messages > 0 ? true : undefined), "a retry waiting", 30_000, 20);
    assert.equal(seen, true);
  }],
  ["nats consumer info WEFT_RETRIES weft-controller-retries", async () => {
    assert.equal((await jsm.consumers.info("WEFT_RETRIES", "weft-controller-retries")).name, "weft-controller-retries");
  }],
  ["nats sub 'weft.dead.>'", async () => {
    const sub = nc.subscribe("weft.dead.>", { max: 1 });
    const m = await nextMessage(sub, "the dead letter, as it is stored");
    assert.match(m.subject, /^weft\.dead\.orders\./);
  }],
  ["nats stream info WEFT_DEAD_LETTERS", async () => {
    assert.equal((await jsm.streams.info("WEFT_DEAD_LETTERS")).state.messages, 1);
  }],
  ["nats stream view WEFT_DEAD_LETTERS --subject 'weft.dead.orders.>'", async () => {
    const letters = [];
    for await (const m of await jsm.direct.getBatch("WEFT_DEAD_LETTERS", { seq: 1, batch: 10, next_by_subj: "weft.dead.orders.>" })) letters.push(m.json<{ event: unknown }>());
    assert.deepEqual(letters.map((l) => l.event), [{ fail: true }]);
  }],
  ["nats stream get WEFT_DEAD_LETTERS --last-for weft.dead.orders.7c0e…", async () => {
    const id = (await api("GET", "/v1/functions/orders/dead-letters")).body.deadLetters[0].id;
    const m = await jsm.streams.getMessage("WEFT_DEAD_LETTERS", { last_by_subj: `weft.dead.orders.${id}` });
    assert.equal(m?.json<{ invocationId: string }>().invocationId, id);
  }],
  ["nats stream purge WEFT_DEAD_LETTERS --subject 'weft.dead.orders.>' -f", async () => {
    assert.equal((await jsm.streams.purge("WEFT_DEAD_LETTERS", { filter: "weft.dead.orders.>" })).purged, 1);
    assert.deepEqual((await api("GET", "/v1/functions/orders/dead-letters")).body.deadLetters, [], "what DELETE does");
  }],
];

test("every nats example in the README is run by this file", () => {
  assert.deepEqual(readmeCommands(), RUNS.map(([cmd]) => cmd).sort());
});

test("the README's nats examples do what it says, in its order of use", async () => {
  assert.equal((await api("PUT", "/v1/functions/hello", { runtime: "python3", code: HELLO })).status, 201);
  for (const [cmd, run] of RUNS) {
    await run().catch((err: Error) => {
      err.message = `${cmd}: ${err.message}`;
      throw err;
    });
  }
});
