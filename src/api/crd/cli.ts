// Writes deploy/crds/helmreleases.helm.project-planton.org.yaml from
// proto/planton/helm/v1/helm_release.proto, and helm-runner/gen/names/names.go from
// src/api/names.ts (the naming rules the runner validates with). Run by `npm run generate` (built to dist/ first:
// the sources import with `.js` suffixes, which Node's type stripping does not resolve).
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDescriptorSet, CRD_FILE, findRepoRoot, HELM_RELEASE_PROTO } from './buf.js';
import { generateCrd, renderCrdYaml } from './generate.js';
import { renderGoNames } from '../names.js';

/** The Go constants of the naming rules (buf generate cleans helm-runner/gen first). */
export const GO_NAMES_FILE = 'helm-runner/gen/names/names.go';

async function main(): Promise<void> {
  const root = findRepoRoot(dirname(fileURLToPath(import.meta.url)));
  const crd = generateCrd(await buildDescriptorSet(root));
  const out = join(root, CRD_FILE);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, renderCrdYaml(crd, HELM_RELEASE_PROTO));
  process.stdout.write(`wrote ${CRD_FILE}\n`);
  const names = join(root, GO_NAMES_FILE);
  await mkdir(dirname(names), { recursive: true });
  await writeFile(names, renderGoNames());
  process.stdout.write(`wrote ${GO_NAMES_FILE}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`crd generation failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
