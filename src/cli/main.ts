#!/usr/bin/env node
// planton-helm: the command-line client of the HelmReleaseService (see `planton-helm --help`).
// This file only binds the process (argv, environment, stdout/stderr, signals) to `run`.
import { run } from './commands.js';

const interrupted = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    // A second interrupt ends the process at once, in case something does not stop.
    if (interrupted.signal.aborted) process.exit(130);
    interrupted.abort();
  });
}
// `planton-helm list | head` closes stdout early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

process.exitCode = await run(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  stdoutIsTty: process.stdout.isTTY === true,
  signal: interrupted.signal,
  now: () => new Date(),
});
