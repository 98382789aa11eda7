import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../clock.js';
import { WorkQueue } from '../controller/work-queue.js';
import { createMetrics, reconciliationStatusValue } from './metrics.js';

/** The sample lines of the exposition text (no HELP/TYPE comments). */
async function samples(registry: Registry): Promise<string[]> {
  return (await registry.metrics()).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

describe('createMetrics', () => {
  it('registers on the given registry only, with the default process metrics', async () => {
    const registry = new Registry();
    createMetrics(registry, 'helmrelease');
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'planton_helm_release_reconciliation_status',
        'planton_helm_release_actions_total',
        'planton_helm_release_action_duration_seconds',
        'planton_helm_release_drift_detected_total',
        'planton_helm_release_drift_corrected_total',
        'planton_helm_runner_request_duration_seconds',
        'leader_election_master_status',
        'controller_runtime_reconcile_total',
        'controller_runtime_reconcile_errors_total',
        'controller_runtime_reconcile_time_seconds',
        'controller_runtime_active_workers',
        'controller_runtime_max_concurrent_reconciles',
        'workqueue_depth',
        'workqueue_adds_total',
        'workqueue_queue_duration_seconds',
        'workqueue_retries_total',
        'process_cpu_seconds_total',
        'nodejs_eventloop_lag_seconds',
      ]),
    );
    // Reconcile counters exist from the start, so rate() works from the first scrape.
    expect(await samples(registry)).toContain('controller_runtime_reconcile_total{controller="helmrelease",result="success"} 0');
    // A second registry is independent: no name clash, nothing global.
    expect(() => createMetrics(new Registry(), 'helmrelease')).not.toThrow();
  });

  it('reports a work queue under controller-runtime and workqueue names', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, 'helmrelease');
    const clock = new FakeClock(0);
    let calls = 0;
    const queue = new WorkQueue(
      async () => {
        calls++;
        if (calls === 1) throw new Error('runner unavailable');
        return calls === 2 ? { requeueAfterMs: 60_000 } : {};
      },
      { name: 'helmrelease', concurrency: 3, clock, metrics: metrics.queue },
    );
    queue.start();
    queue.add('apps/web');
    await clock.advance(61_000);
    await queue.shutdown();

    const lines = await samples(registry);
    expect(lines).toEqual(
      expect.arrayContaining([
        'controller_runtime_reconcile_total{controller="helmrelease",result="success"} 1',
        'controller_runtime_reconcile_total{controller="helmrelease",result="error"} 1',
        'controller_runtime_reconcile_total{controller="helmrelease",result="requeue"} 0',
        'controller_runtime_reconcile_total{controller="helmrelease",result="requeue_after"} 1',
        'controller_runtime_reconcile_errors_total{controller="helmrelease"} 1',
        'controller_runtime_reconcile_time_seconds_count{controller="helmrelease"} 3',
        'controller_runtime_max_concurrent_reconciles{controller="helmrelease"} 3',
        'controller_runtime_active_workers{controller="helmrelease"} 0',
        'workqueue_adds_total{name="helmrelease"} 3',
        'workqueue_retries_total{name="helmrelease"} 1',
        'workqueue_depth{name="helmrelease"} 0',
        'workqueue_queue_duration_seconds_count{name="helmrelease"} 3',
      ]),
    );
  });

  it('documents release status as numbers and forgets a deleted release', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, 'helmrelease');
    metrics.setReleaseStatus('apps', 'web', 'stalled');
    metrics.setReleaseStatus('apps', 'db', 'ready');
    metrics.driftDetected.inc({ namespace: 'apps', name: 'web' });
    metrics.driftCorrected.inc({ namespace: 'apps', name: 'web' });
    metrics.leader.set({ name: 'helmrelease' }, 1);

    let lines = await samples(registry);
    expect(lines).toEqual(
      expect.arrayContaining([
        'planton_helm_release_reconciliation_status{namespace="apps",name="web"} -2',
        'planton_helm_release_reconciliation_status{namespace="apps",name="db"} 1',
        'planton_helm_release_drift_detected_total{namespace="apps",name="web"} 1',
        'leader_election_master_status{name="helmrelease"} 1',
      ]),
    );

    metrics.deleteRelease('apps', 'web');
    metrics.deleteRelease('apps', 'never-seen');
    lines = await samples(registry);
    expect(lines.filter((l) => l.includes('name="web"'))).toEqual([]);
    expect(lines).toContain('planton_helm_release_reconciliation_status{namespace="apps",name="db"} 1');
  });

  it('reports -4 for a known release until its reconcile reports, one info series per release', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, 'helmrelease');
    const info = { chart: 'plain', version: '1.0.0', revision: '', ready: 'Unknown', reason: '', suspended: false, releaseNamespace: 'apps', releaseName: 'web' } as const;
    metrics.setReleaseKnown('apps', 'web', info);
    const infoLines = async () => (await samples(registry)).filter((l) => l.startsWith('planton_helm_release_info{'));
    let lines = await samples(registry);
    expect(lines).toContain('planton_helm_release_reconciliation_status{namespace="apps",name="web"} -4');
    expect(await infoLines()).toEqual([
      'planton_helm_release_info{namespace="apps",name="web",chart="plain",version="1.0.0",revision="",ready="Unknown",reason="",suspended="false",release_namespace="apps",release_name="web"} 1',
    ]);

    // The first reconcile reports; a later version of the object (its status written) changes
    // the info series in place and leaves the reported status alone.
    metrics.setReleaseStatus('apps', 'web', 'ready');
    metrics.setReleaseKnown('apps', 'web', { ...info, revision: '1', ready: 'True', reason: 'InstallSucceeded' });
    metrics.setReleaseKnown('apps', 'web', { ...info, revision: '1', ready: 'True', reason: 'InstallSucceeded' });
    lines = await samples(registry);
    expect(lines).toContain('planton_helm_release_reconciliation_status{namespace="apps",name="web"} 1');
    expect(await infoLines()).toEqual([
      'planton_helm_release_info{namespace="apps",name="web",chart="plain",version="1.0.0",revision="1",ready="True",reason="InstallSucceeded",suspended="false",release_namespace="apps",release_name="web"} 1',
    ]);
    metrics.setReleaseKnown('apps', 'web', { ...info, version: '1.1.0', revision: '2', ready: 'True', reason: 'UpgradeSucceeded', suspended: true, releaseName: 'site' });
    expect(await infoLines()).toEqual([
      'planton_helm_release_info{namespace="apps",name="web",chart="plain",version="1.1.0",revision="2",ready="True",reason="UpgradeSucceeded",suspended="true",release_namespace="apps",release_name="site"} 1',
    ]);

    // Deleted, then created again under the same name: -4 again until it is reconciled.
    metrics.deleteRelease('apps', 'web');
    expect((await samples(registry)).filter((l) => l.includes('name="web"'))).toEqual([]);
    metrics.setReleaseKnown('apps', 'web', info);
    expect(await samples(registry)).toContain('planton_helm_release_reconciliation_status{namespace="apps",name="web"} -4');
    expect(await infoLines()).toHaveLength(1);
  });

  it.each([
    ['ready', 1],
    ['progressing', 0],
    ['failed', -1],
    ['stalled', -2],
    ['suspended', -3],
    ['unknown', -4],
  ] as const)('status %s → %d', (status, value) => {
    expect(reconciliationStatusValue(status)).toBe(value);
  });
});
