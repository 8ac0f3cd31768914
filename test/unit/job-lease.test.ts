// A job's lease (agents/job-lease.ts): renewed only by progress acks confirmed before it ran out.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { JsMsg } from "@nats-io/jetstream";
import { JobLease } from "../../agents/job-lease.js";

const msg = {} as JsMsg;
const ACK_WAIT = 1000;
const lease = () => new JobLease(msg, { ackWaitMs: ACK_WAIT }, 0);

describe("JobLease", () => {
  test("holds for the ack wait less a margin from delivery, without renewals", () => {
    const l = lease();
    assert.equal(l.valid(850), true);
    assert.equal(l.valid(900), false);
    assert.equal(l.valid(100), false, "once lost, it stays lost");
  });

  test("a confirmed renewal extends it from when the renewal was sent", () => {
    const l = lease();
    l.confirmed(500, 520);
    assert.equal(l.valid(1350), true);
    assert.equal(l.valid(1400), false);
  });

  test("a renewal confirmed only after the lease ran out does not revive it", () => {
    const l = lease();
    l.confirmed(500, 950); // sent in time, but nothing proves the server had it before it gave up on us
    assert.equal(l.valid(1000), false);
    l.confirmed(1000, 1010);
    assert.equal(l.valid(1020), false);
    assert.equal(l.expiredForMs(1020), 120);
  });

  test("a late confirmation of an older renewal never shortens it", () => {
    const l = lease();
    l.confirmed(600, 610);
    l.confirmed(200, 620);
    assert.equal(l.valid(1450), true);
  });
});
