// /healthz and the supervisors: what a supervisor announces on weft.supervisor.status is shown (crash loops named in
// crashLoops), a status that does not parse is ignored without harm, a stopped supervisor is forgotten at once.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { SupervisorStatus } from "../shared/schemas/supervisor.js";
import { SUPERVISOR_STATUS_SUBJECT } from "../shared/subjects.js";
import { http, startGatewayUnderTest, uniqueName, until, type GatewayUnderTest } from "./gateway-fixtures.js";

let g: GatewayUnderTest;

before(async () => {
  g = await startGatewayUnderTest();
});

after(async () => {
  await g?.stop();
});

function status(supervisorId: string, state: SupervisorStatus["state"], crashLoop: boolean): SupervisorStatus {
  return {
    supervisorId,
    host: "host-a",
    state,
    components: [
      { name: "agent", state: "running", pid: 42, restarts: 0, crashLoop: false },
      { name: "controller", state: "restarting", restarts: 4, crashLoop, lastExit: "exit code 2 after 0.3 s", restartInMs: 8000 },
    ],
    at: Date.now(),
  };
}

const health = () => http(g.httpUrl, "GET", "/healthz");

test("a supervisor's programs appear in /healthz, a crash loop in crashLoops, and it does not change status by itself", async () => {
  const before = await health();
  assert.equal(before.body.supervisors, undefined, "no supervisor, no field");
  const id = uniqueName("up");
  g.nc.publish(SUPERVISOR_STATUS_SUBJECT, JSON.stringify(status(id, "running", true)));
  await until(async () => (await health()).body.supervisors?.length === 1, "the supervisor shown");
  const shown = await health();
  assert.equal(shown.status, before.status, "status is what the gateway can serve, not the supervisor's view");
  assert.equal(shown.body.supervisors[0].supervisorId, id);
  assert.equal(shown.body.supervisors[0].components[1].restartInMs, 8000);
  assert.deepEqual(shown.body.crashLoops, ["controller on host-a: 4 restarts, last exit code 2 after 0.3 s"]);

  g.nc.publish(SUPERVISOR_STATUS_SUBJECT, JSON.stringify(status(id, "running", false)));
  await until(async () => (await health()).body.crashLoops === undefined, "the crash loop over");

  g.nc.publish(SUPERVISOR_STATUS_SUBJECT, JSON.stringify(status(id, "stopped", false)));
  await until(async () => (await health()).body.supervisors === undefined, "the stopped supervisor forgotten");
});

test("a status that is not JSON, or not the schema, is ignored and the gateway keeps serving", async () => {
  const id = uniqueName("up");
  g.nc.publish(SUPERVISOR_STATUS_SUBJECT, "{not json");
  g.nc.publish(SUPERVISOR_STATUS_SUBJECT, JSON.stringify({ ...status(id, "running", true), components: "all fine" }));
  g.nc.publish(SUPERVISOR_STATUS_SUBJECT, JSON.stringify({ ...status(id, "running", true), supervisorId: "x".repeat(500) }));
  // Published after the bad ones on the same connection, so it arrives after them: once it shows, they were handled.
  const good = uniqueName("up");
  g.nc.publish(SUPERVISOR_STATUS_SUBJECT, JSON.stringify(status(good, "running", false)));
  await until(async () => (await health()).body.supervisors?.length === 1, "the good one shown");
  const shown = await health();
  assert.deepEqual(shown.body.supervisors.map((s: SupervisorStatus) => s.supervisorId), [good]);
  g.nc.publish(SUPERVISOR_STATUS_SUBJECT, JSON.stringify(status(good, "stopped", false)));
});

test("garbage of every kind on the status subject is ignored: the gateway keeps serving HTTP and shows the next good status", async () => {
  const before = await health();
  const id = uniqueName("up");
  const valid = status(id, "running", false);
  const garbage: Array<string | Uint8Array> = [
    "",
    new Uint8Array([0xff, 0xfe, 0xfd, 0x00, 0x80]),
    "null",
    "42",
    '"running"',
    "[]",
    "[".repeat(200_000) + "]".repeat(200_000),
    JSON.stringify({ ...valid, host: "h".repeat(4 * 1024 * 1024) }),
    JSON.stringify({ ...valid, state: "exploded" }),
    JSON.stringify({ ...valid, components: [{ ...valid.components[0], restarts: "many" }] }),
    JSON.stringify({ ...valid, components: Array.from({ length: 100_000 }, () => valid.components[0]) }),
    JSON.stringify({ ...valid, at: "now" }),
    '{"__proto__": {"polluted": true}, "supervisorId": "x"}',
    JSON.stringify({ ...valid, supervisorId: "" }),
  ];
  for (const g0 of garbage) g.nc.publish(SUPERVISOR_STATUS_SUBJECT, g0);
  g.nc.publish(SUPERVISOR_STATUS_SUBJECT, JSON.stringify(valid));
  await until(async () => (await health()).body.supervisors?.some((s: SupervisorStatus) => s.supervisorId === id) === true, "the good status shown");
  const shown = await health();
  assert.equal(shown.status, before.status, "the garbage changed nothing the gateway serves");
  assert.deepEqual(shown.body.supervisors.map((s: SupervisorStatus) => s.supervisorId), [id], "none of the garbage was taken for a supervisor");
  assert.equal(({} as Record<string, unknown>).polluted, undefined, "no prototype was polluted");
  assert.equal((await http(g.httpUrl, "GET", "/openapi.json")).status, 200, "the HTTP API still answers");
  g.nc.publish(SUPERVISOR_STATUS_SUBJECT, JSON.stringify(status(id, "stopped", false)));
  await until(async () => (await health()).body.supervisors === undefined, "the stopped supervisor forgotten");
});

test("a flood of made-up supervisor ids keeps at most 64", async () => {
  for (let i = 0; i < 200; i++) g.nc.publish(SUPERVISOR_STATUS_SUBJECT, JSON.stringify(status(`flood-${i}`, "running", false)));
  const last = "flood-199";
  await until(async () => (await health()).body.supervisors?.some((s: SupervisorStatus) => s.supervisorId === last) === true, "the last one shown");
  const shown = await health();
  assert.equal(shown.body.supervisors.length, 64);
  assert.ok(!shown.body.supervisors.some((s: SupervisorStatus) => s.supervisorId === "flood-0"), "the oldest were dropped");
});
