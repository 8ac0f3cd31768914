// Runs the gateway as a program (see shared/program.ts); app.ts builds it.
import { runProgram } from "../shared/program.js";
import { startGateway } from "./app.js";
import { loadGatewayConfig } from "./config.js";

await runProgram({ name: "gateway", loadConfig: loadGatewayConfig, start: startGateway });
