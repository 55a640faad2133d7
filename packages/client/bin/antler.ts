// antler: the antlerfs command line. Thin: hands argv and the process streams to the CLI.
import { runCli } from '../src/cli/main.ts';

const code = await runCli(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  stderrIsTty: process.stderr.isTTY === true,
});
process.exitCode = code;
