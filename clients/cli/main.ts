// Runs the CLI with the process's arguments and environment, and exits with the code the command chose.
import { run } from "./program.js";

process.exitCode = await run(process.argv.slice(2), {
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
});
