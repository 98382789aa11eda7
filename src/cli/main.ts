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
// With --server at an IP address, grpc-js names the server by that address in TLS (SNI), which
// Node reports on every call as deprecation DEP0123: noise the user can do nothing about. Other
// warnings are still printed.
process.removeAllListeners('warning');
process.on('warning', (w: Error & { code?: string }) => {
  if (w.code !== 'DEP0123') process.stderr.write(`Warning: ${w.name}: ${w.message}\n`);
});
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
