// The short check of deploy/compose in npm test (the full one is npm run test:compose): the agents' stop grace that
// npm run compose passes follows their drain setting, the file's defaults agree with each other, and the wrapper
// builds images only for the commands that start containers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { COMPOSE_FILE, composeEnv, composeSubcommand } from "../../deploy/compose/compose.js";
import { stopGraceMs } from "../../deploy/stop-grace.js";
import { serverGoMaxProcs } from "../../deploy/go-servers.js";

const yaml = readFileSync(COMPOSE_FILE, "utf8");

test("npm run compose derives the agents' stop grace from WEFT_DRAIN_TIMEOUT_MS and WEFT_STOP_MARGIN_MS", () => {
  assert.equal(composeEnv({}, {}).WEFT_AGENT_STOP_GRACE, "45s");
  assert.equal(composeEnv({ WEFT_DRAIN_TIMEOUT_MS: "60000" }, {}).WEFT_AGENT_STOP_GRACE, "75s");
  assert.equal(composeEnv({ WEFT_DRAIN_TIMEOUT_MS: "60000", WEFT_STOP_MARGIN_MS: "5000" }, {}).WEFT_AGENT_STOP_GRACE, "65s");
  assert.equal(composeEnv({ WEFT_AGENT_STOP_GRACE: "2m" }, {}).WEFT_AGENT_STOP_GRACE, "2m", "an explicit value wins");
});

test("compose.yaml's defaults agree: the agents' grace covers their default drain, the gateway's its shutdown grace", () => {
  const drain = /WEFT_DRAIN_TIMEOUT_MS: \$\{WEFT_DRAIN_TIMEOUT_MS:-(\d+)\}/.exec(yaml)?.[1];
  const grace = /stop_grace_period: \$\{WEFT_AGENT_STOP_GRACE:-(\d+)s\}/.exec(yaml)?.[1];
  assert.ok(drain && grace, "both defaults are in the file");
  assert.equal(Number(grace) * 1000, stopGraceMs("agent", { WEFT_DRAIN_TIMEOUT_MS: drain }));
  const gatewayGrace = /WEFT_SHUTDOWN_GRACE_MS: "(\d+)"[\s\S]*?stop_grace_period: (\d+)s/.exec(yaml.slice(yaml.indexOf("  gateway:")));
  assert.ok(gatewayGrace, "the gateway sets both");
  assert.equal(Number(gatewayGrace[2]) * 1000, stopGraceMs("gateway", { WEFT_SHUTDOWN_GRACE_MS: gatewayGrace[1] }));
});

test("compose.yaml pulls nothing and runs three NATS nodes with R3 streams", () => {
  assert.equal((yaml.match(/pull_policy: never/g) ?? []).length, 3, "the NATS, FerretDB and fabric images");
  assert.doesNotMatch(yaml, /^\s+build:/m);
  for (const n of [1, 2, 3]) assert.match(yaml, new RegExp(`^  nats-${n}:`, "m"));
  assert.match(yaml, /WEFT_STREAM_REPLICAS: "3"/);
});

test("npm run compose gives the nats-servers and FerretDB half the host's cores as GOMAXPROCS, unless set", () => {
  assert.equal(composeEnv({}, {}).WEFT_SERVER_GOMAXPROCS, String(serverGoMaxProcs()));
  assert.equal(composeEnv({ WEFT_SERVER_GOMAXPROCS: "3" }, {}).WEFT_SERVER_GOMAXPROCS, "3", "an explicit value wins");
  // Each of the three nats services (through x-nats) and the mongo service pass it on.
  assert.equal((yaml.match(/GOMAXPROCS: \$\{WEFT_SERVER_GOMAXPROCS:-\}/g) ?? []).length, 2, "x-nats and mongo");
});

test("the wrapper finds the subcommand past Compose's global options", () => {
  assert.equal(composeSubcommand(["-p", "x", "up", "-d"]), "up");
  assert.equal(composeSubcommand(["--project-name", "up", "down"]), "down");
  assert.equal(composeSubcommand(["--dry-run", "config"]), "config");
  assert.equal(composeSubcommand(["-f", "a.yaml", "--profile", "p"]), undefined);
});
