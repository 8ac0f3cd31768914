// Which JetStream failures a component's start-up waits out (a cluster electing leaders) and which it reports.
import { test } from "node:test";
import assert from "node:assert/strict";
import { JetStreamApiError } from "@nats-io/jetstream";
import { errors } from "@nats-io/transport-node";
import { bucketSettling, jetStreamSettling, whileJetStreamSettles } from "../../shared/nats.js";

const apiError = (err_code: number, description: string) => new JetStreamApiError({ code: 503, err_code, description });

test("no answer, no responder and 'temporarily unavailable' are settling; a refusal is not", () => {
  const timeout = Object.assign(new Error("timeout"), { name: "TimeoutError" });
  assert.equal(jetStreamSettling(timeout), true);
  assert.equal(jetStreamSettling(Object.assign(new Error("no responders"), { name: "NoRespondersError" })), true);
  assert.equal(jetStreamSettling(apiError(10008, "JetStream system temporarily unavailable")), true);
  // A KV create while the bucket's stream elects a leader: nats.js's wrapping of a publish's no responders.
  const subject = "$KV.weft-idempotency.k";
  const request = new errors.RequestError(`no responders: '${subject}'`, { cause: new errors.NoRespondersError(subject) });
  const noLeader = Object.assign(new Error("jetstream is not enabled", { cause: request }), { name: "JetStreamNotEnabled" });
  assert.equal(jetStreamSettling(noLeader), true);
  assert.equal(jetStreamSettling(Object.assign(new Error("jetstream is not enabled"), { name: "JetStreamNotEnabled" })), false);
  assert.equal(jetStreamSettling(apiError(10059, "stream not found")), false);
  assert.equal(jetStreamSettling(apiError(10058, "stream name already in use with a different configuration")), false);
  assert.equal(jetStreamSettling(new Error("permissions violation")), false);
});

test("opening a bucket also waits out 'already in use with a different configuration' (a lagging node said not found)", () => {
  assert.equal(bucketSettling(apiError(10058, "stream name already in use with a different configuration")), true);
  assert.equal(bucketSettling(apiError(10077, "maximum messages exceeded")), false);
});

test("a start-up step is run again while settling, and its first real error is thrown at once", async () => {
  let calls = 0;
  const value = await whileJetStreamSettles(async () => {
    if (++calls < 3) throw Object.assign(new Error("timeout"), { name: "TimeoutError" });
    return "opened";
  }, "opening");
  assert.equal(value, "opened");
  assert.equal(calls, 3);
  let refused = 0;
  await assert.rejects(
    whileJetStreamSettles(async () => {
      refused++;
      throw apiError(10059, "stream not found");
    }, "opening"),
    /stream not found/,
  );
  assert.equal(refused, 1);
});

test("settling is waited out for the bound only", async () => {
  let calls = 0;
  await assert.rejects(
    whileJetStreamSettles(async () => {
      calls++;
      throw Object.assign(new Error("timeout"), { name: "TimeoutError" });
    }, "opening", undefined, jetStreamSettling, 300),
    /timeout/,
  );
  assert.ok(calls >= 2, `tried ${calls} times`);
});
