// Reads proto files as descriptors through the repository's pinned buf (node_modules/.bin/buf),
// with source info, so the comments come along.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { fromBinary } from '@bufbuild/protobuf';
import { type FileDescriptorSet, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';

const execFileAsync = promisify(execFile);

/** The proto file the HelmRelease CRD is generated from, relative to the repository root. */
export const HELM_RELEASE_PROTO = 'proto/planton/helm/v1/helm_release.proto';

/** The generated CRD, relative to the repository root. */
export const CRD_FILE = 'deploy/crds/helmreleases.helm.project-planton.org.yaml';

/** The repository root: the nearest directory at or above `start` that holds buf.yaml. */
export function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'buf.yaml'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no buf.yaml at or above ${start}`);
  }
}

/**
 * Runs `buf build` in `workspace` (a directory with a buf.yaml) for `paths` and returns the
 * FileDescriptorSet: the files, their imports, and source info (comments).
 * `buf` is the pinned binary of `repoRoot`'s node_modules.
 */
export async function buildDescriptorSet(
  repoRoot: string,
  workspace: string = repoRoot,
  paths: readonly string[] = [HELM_RELEASE_PROTO],
): Promise<FileDescriptorSet> {
  const buf = join(repoRoot, 'node_modules', '.bin', 'buf');
  const args = ['build', ...paths.flatMap((p) => ['--path', p]), '--as-file-descriptor-set', '-o', '-#format=binpb'];
  const { stdout } = await execFileAsync(buf, args, {
    cwd: workspace,
    encoding: 'buffer',
    maxBuffer: 64 * 1024 * 1024,
  });
  return fromBinary(FileDescriptorSetSchema, new Uint8Array(stdout));
}
