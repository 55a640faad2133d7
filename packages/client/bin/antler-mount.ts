// antler-mount: the FUSE mount of antlerfs. Thin: hands argv and the process streams over.
import { runMountCli } from '../src/fuse/mount-main.ts';

process.exitCode = await runMountCli(process.argv.slice(2), {
  stdout: process.stdout, stderr: process.stderr,
});
