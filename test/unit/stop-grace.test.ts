// A supervisor's kill grace is the program's own drain bound, from the variable the program reads, plus the margin:
// npm run up, systemd's TimeoutStopSec and Compose's stop_grace_period are all derived from it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadAgentConfig } from "../../agents/config.js";
import { loadGatewayConfig } from "../../gateway/config.js";
import { DEFAULT_STOP_MARGIN_MS, parseEnvFile, stopGraceMs } from "../../deploy/stop-grace.js";

test("by default the agent gets its 30 s drain plus the margin, never less than its drain", () => {
  const drain = loadAgentConfig({}).drainTimeoutMs;
  assert.equal(stopGraceMs("agent", {}), drain + DEFAULT_STOP_MARGIN_MS);
  assert.ok(stopGraceMs("agent", {}) > drain);
});

test("the agent's grace follows WEFT_DRAIN_TIMEOUT_MS and the margin follows WEFT_STOP_MARGIN_MS", () => {
  const env = { WEFT_DRAIN_TIMEOUT_MS: "120000", WEFT_STOP_MARGIN_MS: "5000" };
  assert.equal(loadAgentConfig(env).drainTimeoutMs, 120_000);
  assert.equal(stopGraceMs("agent", env), 125_000);
});

test("the gateway's grace follows WEFT_SHUTDOWN_GRACE_MS; controller and NATS get the margin", () => {
  const env = { WEFT_SHUTDOWN_GRACE_MS: "20000" };
  assert.equal(stopGraceMs("gateway", env), loadGatewayConfig(env).shutdownGraceMs + DEFAULT_STOP_MARGIN_MS);
  assert.equal(stopGraceMs("controller", env), DEFAULT_STOP_MARGIN_MS);
  assert.equal(stopGraceMs("nats-server", env), DEFAULT_STOP_MARGIN_MS);
});

test("an invalid drain setting is refused, naming the variable, as the agent itself would refuse it", () => {
  assert.throws(() => stopGraceMs("agent", { WEFT_DRAIN_TIMEOUT_MS: "soon" }), /WEFT_DRAIN_TIMEOUT_MS/);
});

test("env files: comments and blank lines skipped, quotes removed, later keys win", () => {
  const env = parseEnvFile("# c\n\nWEFT_DRAIN_TIMEOUT_MS=1000\nWEFT_X = \"a b\"\nWEFT_DRAIN_TIMEOUT_MS=2000\n");
  assert.deepEqual(env, { WEFT_DRAIN_TIMEOUT_MS: "2000", WEFT_X: "a b" });
});
