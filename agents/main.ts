// Runs an agent: configuration from the environment, telemetry, logger, signals. Everything else is app.ts.
import { createLogger } from "../shared/logger.js";
import { startTelemetry } from "../shared/telemetry.js";
import { startAgent } from "./app.js";
import { loadAgentConfig } from "./config.js";

const config = loadAgentConfig(process.env);
const telemetry = await startTelemetry("weft-agent", process.env);
const log = createLogger("agent", config.logLevel);
const agent = await startAgent(config, log).catch((err: unknown) => {
  log.fatal({ err }, "agent did not start");
  process.exit(1);
});

const shutdown = (signal: string) => {
  log.info({ signal }, "signal received; draining");
  agent
    .stop()
    .then(() => telemetry.shutdown())
    .then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
};
process.once("SIGINT", () => shutdown("SIGINT"));
process.once("SIGTERM", () => shutdown("SIGTERM"));
