// What an operator reads about releases, end to end on the local control plane with the real
// runner and controller: the per-release info series (right labels, changed on upgrade, gone when
// the HelmRelease leaves the controller's scope or is deleted), the -4 status of a HelmRelease
// known but not reconciled yet, a drift that keeps coming back counted on one Event instead of
// one Event per occurrence, and the reconcile ID that ties a reconcile's log lines together.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterEnv, kubeConfig, kubectl, repoRoot, tempNamespace, waitFor } from '../support/cluster.js';
import { buildController, helmReleases, installCrd, type RunningController, startController, waitForCondition } from '../support/controller.js';
import { buildRunner, type RunningRunner, startRunner } from '../support/runner.js';

const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
const hrs = helmReleases();

// The controller watches only HelmReleases with this label, so a test can take one out of its
// scope; one worker, so a long install keeps the next HelmRelease waiting, not reconciled.
const SCOPE = 'planton.test/observed';
const inScope = { labels: { [SCOPE]: 'yes' } };

let ns: string;
let runner: RunningRunner;
let controller: RunningController;
let cleanup: (() => Promise<void>) | undefined;

beforeAll(async () => {
  await Promise.all([buildRunner(), installCrd(), buildController()]);
  const namespace = await tempNamespace('hr-observe');
  ns = namespace.name;
  cleanup = namespace.cleanup;
  runner = await startRunner();
  controller = await startController({ runnerSocket: runner.socket, namespace: ns, args: ['--concurrency', '1', '--label-selector', `${SCOPE}=yes`] });
});

afterAll(async () => {
  await controller?.stop();
  await runner?.stop();
  await cleanup?.();
});

const plain = (extra: Record<string, unknown> = {}) => ({ repo: clusterEnv().PLANTON_OCI_REPO, name: 'plain', version: '1.0.0', timeout: '60s', ...extra });

interface Sample {
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** Every sample of metric `name` in Prometheus text, with its labels. */
function samples(text: string, name: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labels: Record<string, string> = {};
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    for (const m of body.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1] ?? ''] = m[2] ?? '';
    out.push({ labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) });
  }
  return out;
}

/** The samples of `metric` for HelmRelease `name` of this suite's namespace, scraped now. */
async function seriesOf(metric: string, name: string): Promise<Sample[]> {
  return samples(await controller.metrics(), metric).filter((s) => s.labels['namespace'] === ns && s.labels['name'] === name);
}

/** Waits until HelmRelease `name` has exactly one info series and `accept` takes its labels. */
function infoOf(name: string, what: string, accept: (labels: Record<string, string>) => boolean): Promise<Record<string, string>> {
  return waitFor(`the info series of ${name} ${what}`, async () => {
    const info = await seriesOf('planton_helm_release_info', name);
    if (info.length > 1) throw new Error(`${info.length} info series for one HelmRelease: ${JSON.stringify(info)}`);
    return info[0] && accept(info[0].labels) ? info[0].labels : undefined;
  }, 60_000, 250);
}

const setScope = (name: string, value: 'yes' | 'no') =>
  kubectl(['label', '--overwrite', '--namespace', ns, `helmrelease/${name}`, `${SCOPE}=${value}`]);

interface LogLine {
  readonly msg: string;
  readonly helmrelease?: string;
  readonly reconcileID?: string;
  readonly grpcMethod?: string;
  readonly action?: string;
  readonly [field: string]: unknown;
}

const logLines = (text: string): LogLine[] =>
  text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);

describe('planton_helm_release_info', () => {
  it('lists an installed release with its chart, version, revision and Ready, and follows an upgrade', async () => {
    await hrs.create(ns, 'web', plain({ releaseName: 'site' }), inScope);
    await waitForCondition(ns, 'web', 'Ready', 'True');
    expect(await infoOf('web', 'at revision 1, Ready', (l) => l['revision'] === '1' && l['ready'] === 'True')).toEqual({
      namespace: ns,
      name: 'web',
      chart: 'plain',
      version: '1.0.0',
      revision: '1',
      ready: 'True',
      reason: 'InstallSucceeded',
      suspended: 'false',
      release_namespace: ns,
      release_name: 'site',
    });
    expect((await seriesOf('planton_helm_release_reconciliation_status', 'web')).map((s) => s.value)).toEqual([1]);

    await hrs.patchSpec(ns, 'web', { version: '1.1.0' });
    const upgraded = await waitFor('web upgraded to revision 2', async () => {
      const hr = await waitForCondition(ns, 'web', 'Ready', 'True');
      return hr.status?.release?.revision === 2 ? hr : undefined;
    }, 120_000, 500);
    expect(upgraded.status?.release?.chartVersion).toBe('1.1.0');
    // One series, replaced: the old labels are gone, not left beside the new ones.
    expect(await infoOf('web', 'at revision 2', (l) => l['revision'] === '2')).toMatchObject({ version: '1.1.0', revision: '2', ready: 'True' });
  });

  it('is removed when the HelmRelease leaves the controller’s scope, and back when it returns', async () => {
    await setScope('web', 'no');
    await waitFor('web to stop being reported', async () => {
      const left = [
        ...(await seriesOf('planton_helm_release_info', 'web')),
        ...(await seriesOf('planton_helm_release_reconciliation_status', 'web')),
      ];
      return left.length === 0 ? true : undefined;
    }, 60_000, 250);
    await setScope('web', 'yes');
    expect(await infoOf('web', 'back', () => true)).toMatchObject({ version: '1.1.0', revision: '2', ready: 'True' });
    await waitFor('web reconciled again', async () =>
      (await seriesOf('planton_helm_release_reconciliation_status', 'web')).some((s) => s.value === 1) ? true : undefined, 60_000, 250);
  });
});

describe('planton_helm_release_reconciliation_status', () => {
  it('reads -4 for a HelmRelease the controller knows but has not reconciled yet', async () => {
    // The only worker is busy with an install that waits for a Deployment that never becomes
    // ready (no node matches its selector) until the 20 s timeout.
    await hrs.create(ns, 'slow', { ...plain({ name: 'never-ready', timeout: '20s', atomic: false }), remediation: { retries: 0 } }, inScope);
    await waitFor('the install of slow to start', async () =>
      logLines(controller.logs()).some((l) => l.msg === 'action started' && l.helmrelease === `${ns}/slow` && l.action === 'install') ? true : undefined, 60_000, 200);

    await hrs.create(ns, 'queued', plain(), inScope);
    const first = await waitFor('a status sample of queued', async () => (await seriesOf('planton_helm_release_reconciliation_status', 'queued'))[0], 15_000, 100);
    expect(first.value).toBe(-4);
    expect(await infoOf('queued', 'before its first reconcile', () => true)).toMatchObject({ chart: 'plain', version: '1.0.0', revision: '', ready: 'Unknown' });

    // Once the worker is free, queued is reconciled and reports what it found.
    await waitForCondition(ns, 'queued', 'Ready', 'True', 180_000);
    await waitFor('queued to report Ready', async () =>
      (await seriesOf('planton_helm_release_reconciliation_status', 'queued')).some((s) => s.value === 1) ? true : undefined, 60_000, 250);
  });
});

describe('events of a drift that keeps coming back', () => {
  it('are counted on one DriftDetected and one DriftCorrected Event', async () => {
    await hrs.create(ns, 'drifty', plain({ interval: '3s' }), inScope);
    await waitForCondition(ns, 'drifty', 'Ready', 'True', 180_000);
    const message = async () => (await core.readNamespacedConfigMap({ namespace: ns, name: 'drifty-plain' })).data?.['message'];
    for (let i = 1; i <= 3; i++) {
      await kubectl(['patch', 'configmap/drifty-plain', '--namespace', ns, '--type=merge', '-p', `{"data":{"message":"edited ${i}"}}`]);
      await waitFor(`edit ${i} to be corrected`, async () => ((await message()) === 'hello' ? true : undefined), 90_000, 250);
    }

    const list = async () => (await core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=drifty` })).items;
    const of = (items: k8s.CoreV1Event[], reason: string) => items.filter((e) => e.reason === reason);
    const items = await waitFor('three corrections counted', async () => {
      const all = await list();
      const counted = of(all, 'DriftCorrected').reduce((n, e) => n + (e.count ?? 1), 0);
      return counted >= 3 ? all : undefined;
    }, 60_000, 500);
    const corrected = of(items, 'DriftCorrected');
    const detected = of(items, 'DriftDetected');
    console.log(`drifty events: ${items.map((e) => `${e.reason} x${e.count} (${String(e.firstTimestamp)} .. ${String(e.lastTimestamp)})`).join(', ')}`);
    expect(corrected).toHaveLength(1);
    expect(corrected[0]).toMatchObject({ type: 'Normal', count: 3, message: 're-applied 1 drifted object(s): ConfigMap/drifty-plain' });
    expect(detected).toHaveLength(1);
    expect(detected[0]).toMatchObject({ type: 'Warning', count: 3, message: '1 object(s) differ from the release manifest' });
    // The occurrences span the three edits: the last one is later than the first.
    const span = (e: k8s.CoreV1Event | undefined) => [new Date(String(e?.firstTimestamp)).getTime(), new Date(String(e?.lastTimestamp)).getTime()];
    const [first = 0, last = 0] = span(corrected[0]);
    expect(last).toBeGreaterThan(first);
    // Install had an Event of its own, written once.
    expect(of(items, 'InstallSucceeded')).toMatchObject([{ count: 1 }]);
  });
});

describe('reconcile IDs', () => {
  it('tie together every log line of one reconcile', () => {
    const lines = logLines(controller.logs());
    const mine = lines.filter((l) => l.helmrelease === `${ns}/web`);
    expect(mine.length).toBeGreaterThan(0);
    // Every line of a reconcile of web carries an ID of 16 hex characters.
    expect(mine.filter((l) => !/^[0-9a-f]{16}$/.test(l.reconcileID ?? ''))).toEqual([]);
    const install = mine.find((l) => l.msg === 'action started' && l.action === 'install');
    const id = install?.reconcileID ?? '';
    const ofInstall = lines.filter((l) => l.reconcileID === id);
    // The install's reconcile: its start and end, and nothing of another HelmRelease.
    expect(ofInstall.map((l) => l.msg)).toEqual(expect.arrayContaining(['action started', 'action finished']));
    expect(ofInstall.every((l) => l.helmrelease === `${ns}/web`)).toBe(true);
    expect(ofInstall.find((l) => l.msg === 'action finished')).toMatchObject({ action: 'install', outcome: 'success' });
    // The upgrade was another reconcile, with an ID of its own.
    const upgrade = mine.find((l) => l.msg === 'action started' && l.action === 'upgrade');
    expect(upgrade?.reconcileID).toMatch(/^[0-9a-f]{16}$/);
    expect(upgrade?.reconcileID).not.toBe(id);

    // helm-runner received the ID with the install's calls and logged it with the gRPC method.
    const runnerLines = logLines(runner.logs()).filter((l) => l.reconcileID === id);
    expect(runnerLines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ msg: 'operation succeeded', grpcMethod: '/planton.helmrunner.v1.HelmRunnerService/Install' }),
      ]),
    );
  });

  it('let the README’s jq line follow one release across both processes’ logs', async () => {
    // The line as documented (README, Operating the reconciler, Logs), run on this suite's logs.
    const readme = readFileSync(resolve(repoRoot, 'README.md'), 'utf8');
    const documented = /^\s*jq -nRc --arg hr \S+ '([^']+)' \S+ \S+$/m.exec(readme);
    expect(documented).not.toBeNull();
    const dir = mkdtempSync(join(tmpdir(), 'observe-logs-'));
    try {
      const files = [join(dir, 'reconciler.log'), join(dir, 'helm-runner.log')] as const;
      writeFileSync(files[0], controller.logs());
      writeFileSync(files[1], runner.logs());
      const { stdout } = await promisify(execFile)('jq', ['-nRc', '--arg', 'hr', `${ns}/web`, documented?.[1] ?? '', ...files], { maxBuffer: 64 * 1024 * 1024 });
      const story = logLines(stdout);
      console.log(`web's story: ${story.length} lines, ${story.filter((l) => l.grpcMethod !== undefined).length} of helm-runner; first lines:\n${stdout.split('\n').slice(0, 4).join('\n')}`);
      const ids = new Set(logLines(controller.logs()).filter((l) => l.helmrelease === `${ns}/web`).map((l) => l.reconcileID));
      // Every line of web's reconciles from both files, nothing of another release, in time order.
      expect(story.filter((l) => l.helmrelease !== undefined && l.helmrelease !== `${ns}/web`)).toEqual([]);
      expect(new Set(story.map((l) => l.reconcileID))).toEqual(ids);
      expect(story.filter((l) => l.grpcMethod === undefined).length).toBe(logLines(controller.logs()).filter((l) => ids.has(l.reconcileID)).length);
      expect(story.filter((l) => l.grpcMethod !== undefined).length).toBe(logLines(runner.logs()).filter((l) => ids.has(l.reconcileID)).length);
      expect(story.some((l) => l.grpcMethod?.endsWith('/Upgrade'))).toBe(true);
      const times = story.map((l) => String(l['time']));
      expect(times).toEqual([...times].sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a deleted HelmRelease', () => {
  it('is no longer reported', async () => {
    await hrs.delete(ns, 'web');
    await waitFor('web to be gone', async () => ((await hrs.get(ns, 'web')) === undefined ? true : undefined), 120_000, 500);
    await waitFor('web to stop being reported', async () => {
      const left = [
        ...(await seriesOf('planton_helm_release_info', 'web')),
        ...(await seriesOf('planton_helm_release_reconciliation_status', 'web')),
      ];
      return left.length === 0 ? true : undefined;
    }, 60_000, 250);
    expect((await seriesOf('planton_helm_release_info', 'queued')).length).toBe(1);
  });
});
