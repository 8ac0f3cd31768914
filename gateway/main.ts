// Runs a gateway: configuration from the environment, telemetry, logger, signals. Everything else is app.ts.
import { ConfigError } from "../shared/config.js";
import { createLogger } from "../shared/logger.js";
import { startTelemetry } from "../shared/telemetry.js";
import { startGateway, type Gateway } from "./app.js";
import { loadGatewayConfig } from "./config.js";

const config = (() => {
  try {
    return loadGatewayConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`weft gateway: ${err.message}\n`);
    process.exit(2);
  }
})();
const telemetry = await startTelemetry("weft-gateway", process.env);
const log = createLogger("gateway", config.logLevel);

let gateway: Gateway;
try {
  gateway = await startGateway(config, log);
} catch (err) {
  log.fatal({ err }, "gateway failed to start");
  await telemetry.shutdown();
  process.exit(1);
}

const shutdown = (signal: string) => {
  log.info({ signal }, "signal received; stopping");
  gateway
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
