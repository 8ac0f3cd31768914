// Runs the controller as a program (see shared/program.ts); app.ts builds it.
import { runProgram } from "../shared/program.js";
import { startController } from "./app.js";
import { loadControllerConfig } from "./config.js";

await runProgram({ name: "controller", loadConfig: loadControllerConfig, start: startController });
