// vitest globalSetup of the integration and bench projects: compiles the reconciler once per run
// (instead of once per test file) into .build/run-<pid>, and tells the test processes where, by
// environment (they are started after this runs).
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './cluster.js';

export const BUILD_ENV = 'PLANTON_CONTROLLER_BUILD';

export default async function setup(): Promise<() => void> {
  const outDir = resolve(repoRoot, '.build', `run-${process.pid}`);
  await promisify(execFile)(
    process.execPath,
    [resolve(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', resolve(repoRoot, 'tsconfig.json'), '--outDir', outDir],
    { cwd: repoRoot, timeout: 300_000 },
  );
  process.env[BUILD_ENV] = outDir;
  return () => rmSync(outDir, { recursive: true, force: true });
}
