// Runs the agent as a program (see shared/program.ts); app.ts builds it.
import { runProgram } from "../shared/program.js";
import { startAgent } from "./app.js";
import { loadAgentConfig } from "./config.js";

await runProgram({ name: "agent", loadConfig: loadAgentConfig, start: startAgent });
