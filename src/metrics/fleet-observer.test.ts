import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { HelmReleaseObject, HelmReleaseStatus } from '../api/helm-release.js';
import { fleetObserver, releaseInfoOf } from './fleet-observer.js';
import { createMetrics } from './metrics.js';

function helmRelease(spec: unknown, status?: HelmReleaseStatus, generation = 1): HelmReleaseObject {
  return {
    apiVersion: 'helm.project-planton.org/v1',
    kind: 'HelmRelease',
    metadata: { namespace: 'apps', name: 'web', uid: 'u-1', generation, resourceVersion: '1' },
    spec,
    ...(status ? { status } : {}),
  };
}

const spec = { repo: 'oci://registry.example/charts', name: 'plain', version: '1.0.0' };

const deployed = (revision: number, ready: 'True' | 'False'): HelmReleaseStatus =>
  ({
    observedGeneration: 1,
    conditions: [{ type: 'Ready', status: ready, reason: ready === 'True' ? 'InstallSucceeded' : 'InstallFailed', message: '', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 1 }],
    release: { name: 'web', namespace: 'apps', revision, chartVersion: '1.0.0', appVersion: '1', status: 'deployed' },
  }) as unknown as HelmReleaseStatus;

describe('releaseInfoOf', () => {
  it('reads chart, version and the release names from the spec, defaulted to the object', () => {
    expect(releaseInfoOf(helmRelease(spec))).toEqual({
      chart: 'plain',
      version: '1.0.0',
      revision: '',
      ready: 'Unknown',
      reason: '',
      suspended: false,
      releaseNamespace: 'apps',
      releaseName: 'web',
    });
    expect(releaseInfoOf(helmRelease({ ...spec, releaseName: 'site', targetNamespace: 'prod', suspend: true }, deployed(3, 'False')))).toMatchObject({
      revision: '3',
      ready: 'False',
      reason: 'InstallFailed',
      suspended: true,
      releaseNamespace: 'prod',
      releaseName: 'site',
    });
  });

  it('lists a spec that does not validate with what it says, strings only', () => {
    expect(releaseInfoOf(helmRelease({ name: 'plain', version: '^1', releaseName: 7 }))).toEqual({
      chart: 'plain',
      version: '^1',
      revision: '',
      ready: 'Unknown',
      reason: '',
      suspended: false,
      releaseNamespace: 'apps',
      releaseName: 'web',
    });
    expect(releaseInfoOf(helmRelease(JSON.parse('{"__proto__":{"name":"x"}}')))).toMatchObject({ chart: '', version: '' });
  });
});

describe('fleetObserver', () => {
  it('follows the cache: one info series that changes with the object, removed when it leaves', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, 'helmrelease');
    const fleet = fleetObserver(metrics);
    const info = async () => (await registry.metrics()).split('\n').filter((l) => l.startsWith('planton_helm_release_info{') || l.startsWith('planton_helm_release_reconciliation_status{'));

    fleet.known(helmRelease(spec));
    expect(await info()).toEqual([
      'planton_helm_release_reconciliation_status{namespace="apps",name="web"} -4',
      'planton_helm_release_info{namespace="apps",name="web",chart="plain",version="1.0.0",revision="",ready="Unknown",reason="",suspended="false",release_namespace="apps",release_name="web"} 1',
    ]);
    metrics.setReleaseStatus('apps', 'web', 'ready');
    fleet.known(helmRelease(spec, deployed(1, 'True')));
    fleet.known(helmRelease({ ...spec, version: '1.1.0' }, deployed(2, 'True'), 2));
    expect(await info()).toEqual([
      'planton_helm_release_reconciliation_status{namespace="apps",name="web"} 1',
      'planton_helm_release_info{namespace="apps",name="web",chart="plain",version="1.1.0",revision="2",ready="True",reason="InstallSucceeded",suspended="false",release_namespace="apps",release_name="web"} 1',
    ]);
    fleet.forgotten('apps', 'web');
    expect(await info()).toEqual([]);
  });
});
