// Runs the controller as a program: configuration from the environment, telemetry, signals.
import { createLogger } from "../shared/logger.js";
import { startTelemetry } from "../shared/telemetry.js";
import { startController } from "./app.js";
import { loadControllerConfig } from "./config.js";

const config = loadControllerConfig(process.env);
const telemetry = await startTelemetry("weft-controller", process.env);
const log = createLogger("controller", config.logLevel);

const controller = await startController(config, log);

let exiting = false;
async function exit(signal: NodeJS.Signals): Promise<void> {
  if (exiting) return;
  exiting = true;
  log.info({ signal }, "stopping");
  let code = 0;
  try {
    await controller.stop();
  } catch (err) {
    log.error({ err }, "controller did not stop cleanly");
    code = 1;
  }
  await telemetry.shutdown();
  process.exit(code);
}

process.on("SIGINT", (s) => void exit(s));
process.on("SIGTERM", (s) => void exit(s));
