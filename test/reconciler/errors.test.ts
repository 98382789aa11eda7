// Error paths end to end, on the local control plane with the real runner and controller: what a
// user sees when the chart version or name does not exist, when the repository is plain HTTP and
// the controller refuses it, when repository credentials are missing or wrong, and when a spec
// passes admission but not the controller's own validation. Credentials that work install the
// chart from the protected HTTP repository and OCI registry.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterEnv, kubeConfig, repoRoot, tempNamespace } from '../support/cluster.js';
import {
  condition,
  eventsFor,
  helmReleases,
  installCrd,
  type RunningController,
  startController,
  waitForCondition,
} from '../support/controller.js';
import { buildRunner, type RunningRunner, startRunner } from '../support/runner.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const customObjects = kc.makeApiClient(k8s.CustomObjectsApi);
const hrs = helmReleases();

let ns: string;
let secureNs: string;
const cleanups: (() => Promise<void>)[] = [];
let runner: RunningRunner;
let controller: RunningController;
let secureController: RunningController;

beforeAll(async () => {
  await Promise.all([buildRunner(), installCrd()]);
  const a = await tempNamespace('hr-errors');
  const b = await tempNamespace('hr-secure');
  ns = a.name;
  secureNs = b.name;
  cleanups.push(a.cleanup, b.cleanup);
  runner = await startRunner();
  controller = await startController({ runnerSocket: runner.socket, namespace: ns });
  // The same runner; this controller runs without --allow-insecure-http.
  secureController = await startController({ runnerSocket: runner.socket, namespace: secureNs, secureOnly: true });
});
afterAll(async () => {
  await secureController?.stop();
  await controller?.stop();
  await runner?.stop();
  for (const c of cleanups) await c();
});

const chart = (extra: Record<string, unknown> = {}) => ({ repo: clusterEnv().PLANTON_OCI_REPO, name: 'plain', version: '1.0.0', timeout: '60s', ...extra });
const releaseSecrets = async (namespace: string, release: string) =>
  (await core.listNamespacedSecret({ namespace, labelSelector: `owner=helm,name=${release}` })).items;
const putSecret = (name: string, data: Record<string, string>) => core.createNamespacedSecret({ namespace: ns, body: { metadata: { name }, stringData: data } });
/** Request lines the local HTTP chart repository logged (it logs every request, one line each). */
const httpRepoLog = () => readFileSync(resolve(process.env['CLUSTER_DIR'] ?? resolve(repoRoot, '.cluster'), 'logs/http-repo.log'), 'utf8');

describe('a chart that the repository does not have', () => {
  it('stalls with VersionNotFound when the version does not exist', async () => {
    await hrs.create(ns, 'noversion', chart({ version: '9.9.9' }));
    const hr = await waitForCondition(ns, 'noversion', 'Stalled', 'True', 60_000, 'VersionNotFound');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'VersionNotFound' });
    const message = condition(hr, 'Stalled')?.message ?? '';
    expect(message).toContain('9.9.9');
    expect(message).toMatch(/not found|no .*version|does not exist/i);
    expect(await releaseSecrets(ns, 'noversion')).toHaveLength(0);
    expect((await eventsFor(ns, 'noversion')).map((e) => e.reason)).toContain('VersionNotFound');
  });

  it.each([
    ['the OCI registry', 'nochart-oci', () => clusterEnv().PLANTON_OCI_REPO],
    ['the HTTP repository', 'nochart-http', () => clusterEnv().PLANTON_HTTP_REPO],
  ])('stalls with ChartNotFound when the chart name is not in %s', async (_where, name, repo) => {
    await hrs.create(ns, name, chart({ repo: repo(), name: 'no-such-chart' }));
    const hr = await waitForCondition(ns, name, 'Stalled', 'True', 60_000, 'ChartNotFound');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'ChartNotFound' });
    expect(condition(hr, 'Stalled')?.message).toContain('no-such-chart');
    expect(await releaseSecrets(ns, name)).toHaveLength(0);
  });
});

describe('a plain-HTTP repository, with a controller that refuses plain HTTP', () => {
  it('stalls with InsecureRepository naming the repository, and nothing is sent to it', async () => {
    // A path of its own, so the repository's request log shows whether anything asked for it.
    const path = `insecure-${Math.random().toString(36).slice(2, 10)}`;
    const repo = `${clusterEnv().PLANTON_HTTP_REPO}/${path}`;
    await hrs.create(secureNs, 'insecure', chart({ repo }));
    const hr = await waitForCondition(secureNs, 'insecure', 'Stalled', 'True', 60_000, 'InsecureRepository');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'InsecureRepository' });
    expect(condition(hr, 'Stalled')?.message).toContain(repo);
    expect(await releaseSecrets(secureNs, 'insecure')).toHaveLength(0);
    expect(httpRepoLog()).not.toContain(path);
    const event = (await eventsFor(secureNs, 'insecure')).find((e) => e.reason === 'InsecureRepository');
    expect(event).toMatchObject({ type: 'Warning' });
    expect(event?.message).toContain(repo);
  });
});

describe('repository credentials', () => {
  it('that name a missing Secret: Ready=False AuthSecretNotFound, not Stalled', async () => {
    await hrs.create(ns, 'nocreds', chart({ repo: clusterEnv().PLANTON_OCI_AUTH_REPO, auth: { secretRef: { name: 'absent-creds' } } }));
    const hr = await waitForCondition(ns, 'nocreds', 'Ready', 'False', 60_000, 'AuthSecretNotFound');
    expect(condition(hr, 'Ready')?.message).toContain('absent-creds');
    expect(condition(hr, 'Stalled')).toBeUndefined();
    expect(await releaseSecrets(ns, 'nocreds')).toHaveLength(0);
  });

  it.each([
    ['the OCI registry', 'private-oci', () => clusterEnv().PLANTON_OCI_AUTH_REPO],
    ['the HTTP repository', 'private-http', () => clusterEnv().PLANTON_HTTP_AUTH_REPO],
  ])('that are right install the chart from %s', async (_where, name, repo) => {
    await putSecret(`${name}-creds`, { username: clusterEnv().PLANTON_REPO_USERNAME, password: clusterEnv().PLANTON_REPO_PASSWORD });
    await hrs.create(ns, name, chart({ repo: repo(), auth: { secretRef: { name: `${name}-creds` } } }));
    const hr = await waitForCondition(ns, name, 'Ready', 'True');
    expect(hr.status?.release).toMatchObject({ revision: 1, chartVersion: '1.0.0', status: 'deployed' });
  });

  it.each([
    ['the OCI registry', 'wrong-oci', () => clusterEnv().PLANTON_OCI_AUTH_REPO],
    ['the HTTP repository', 'wrong-http', () => clusterEnv().PLANTON_HTTP_AUTH_REPO],
  ])('that are wrong stall with AuthFailed for %s, without showing the password', async (_where, name, repo) => {
    const wrong = `${clusterEnv().PLANTON_REPO_PASSWORD}-wrong-${Math.random().toString(36).slice(2, 8)}`;
    await putSecret(`${name}-creds`, { username: clusterEnv().PLANTON_REPO_USERNAME, password: wrong });
    await hrs.create(ns, name, chart({ repo: repo(), auth: { secretRef: { name: `${name}-creds` } } }));
    const hr = await waitForCondition(ns, name, 'Stalled', 'True', 60_000, 'AuthFailed');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'AuthFailed' });
    expect(await releaseSecrets(ns, name)).toHaveLength(0);
    const raw = JSON.stringify(await customObjects.getNamespacedCustomObject({ group: 'helm.project-planton.org', version: 'v1', plural: 'helmreleases', namespace: ns, name }));
    const events = JSON.stringify((await core.listNamespacedEvent({ namespace: ns })).items);
    for (const text of [raw, events, controller.logs(), runner.logs(), await controller.metrics()]) {
      expect(text.includes(wrong)).toBe(false);
      expect(text.includes(clusterEnv().PLANTON_REPO_PASSWORD)).toBe(false);
    }
  });
});

describe('a spec the CRD admits but the controller rejects', () => {
  // The CRD's CEL rule and zod share the pattern ^(https|oci|http)://[^\s/]+, but CEL (RE2) reads
  // \s as ASCII whitespace only while JavaScript also counts Unicode spaces: a repository URL
  // pasted with a no-break space after the scheme is admitted, then refused by the controller.
  it('stalls with InvalidSpec naming the field', async () => {
    await hrs.create(ns, 'nbsp', chart({ repo: 'https://\u00a0charts.example.com' }));
    const hr = await waitForCondition(ns, 'nbsp', 'Stalled', 'True', 60_000, 'InvalidSpec');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(condition(hr, 'Stalled')?.message).toContain('spec.repo');
    expect(await releaseSecrets(ns, 'nbsp')).toHaveLength(0);
  });
});
