// valuesFrom end to end, on the local control plane with the real runner and controller: values
// read from Secrets and ConfigMaps reach Helm (merged in order, `values` on top, targetPath as a
// string), a change to a referenced Secret upgrades the release without touching the
// HelmRelease, and a value from a Secret never shows in the object, events, logs or metrics. A
// missing source waits (not Stalled) until it appears; content that is not a mapping stalls.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { clusterEnv, helm, kubeConfig, waitFor } from '../support/cluster.js';
import {
  condition,
  eventsFor,
  helmReleases,
  type RunningController,
  requestReconcile,
  useController,
  waitForCondition,
} from '../support/controller.js';
import type { RunningRunner } from '../support/runner.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const customObjects = kc.makeApiClient(k8s.CustomObjectsApi);
const hrs = helmReleases();

let ns: string;
let runner: RunningRunner;
let controller: RunningController;

useController('hr-values', (suite) => ({ ns, runner, controller } = suite));

const canaryOf = () => `canary-${Math.random().toString(36).slice(2, 10)}${Math.random().toString(36).slice(2, 10)}`;
const chart = (extra: Record<string, unknown> = {}) => ({ repo: clusterEnv().PLANTON_OCI_REPO, name: 'plain', version: '1.0.0', timeout: '60s', ...extra });

const putSecret = async (name: string, data: Record<string, string>) => {
  const body = { metadata: { name }, stringData: data };
  const exists = await core.readNamespacedSecret({ namespace: ns, name }).then(() => true, () => false);
  if (exists) await core.replaceNamespacedSecret({ namespace: ns, name, body });
  else await core.createNamespacedSecret({ namespace: ns, body });
};
const putConfigMap = (name: string, data: Record<string, string>) => core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data } });
const configMapData = async (name: string) => (await core.readNamespacedConfigMap({ namespace: ns, name })).data;
const releaseSecrets = async (release: string) =>
  (await core.listNamespacedSecret({ namespace: ns, labelSelector: `owner=helm,name=${release}` })).items;
/** The HelmRelease exactly as stored, status included, as JSON text. */
const rawHelmRelease = async (name: string) =>
  JSON.stringify(await customObjects.getNamespacedCustomObject({ group: 'helm.project-planton.org', version: 'v1', plural: 'helmreleases', namespace: ns, name }));
/** Every event of the namespace, every field, as JSON text. */
const rawEvents = async () => JSON.stringify((await core.listNamespacedEvent({ namespace: ns })).items);

describe('values from a Secret', () => {
  const canary1 = canaryOf();
  const canary2 = canaryOf();

  it('reach Helm: the chart renders the value read from the Secret', async () => {
    await putSecret('app-values', { 'values.yaml': `message: ${canary1}\n` });
    await hrs.create(ns, 'plain', chart({ valuesFrom: [{ kind: 'Secret', name: 'app-values' }] }));
    const hr = await waitForCondition(ns, 'plain', 'Ready', 'True');
    expect(hr.status?.release).toMatchObject({ revision: 1, status: 'deployed' });
    expect((await configMapData('plain-plain'))?.['message']).toBe(canary1);
  });

  it('upgrade the release when the Secret changes, without any change to the HelmRelease', async () => {
    const generation = (await hrs.get(ns, 'plain'))?.metadata.generation;
    await putSecret('app-values', { 'values.yaml': `message: ${canary2}\n` });
    const hr = await waitFor('revision 2 with the new Secret content', async () => {
      const h = await hrs.get(ns, 'plain');
      const cm = await configMapData('plain-plain');
      return h?.status?.release?.revision === 2 && cm?.['message'] === canary2 ? h : undefined;
    }, 60_000, 500);
    expect(hr.metadata.generation).toBe(generation);
    const ready = await waitForCondition(ns, 'plain', 'Ready', 'True');
    expect(condition(ready, 'Released')).toMatchObject({ status: 'True', reason: 'UpgradeSucceeded' });
    expect(ready.status?.history?.map((h) => [h.revision, h.status])).toEqual([
      [2, 'deployed'],
      [1, 'superseded'],
    ]);
  });

  it('never show: not in the HelmRelease, its events, the logs of controller and runner, or the metrics', async () => {
    const places = {
      helmRelease: await rawHelmRelease('plain'),
      events: await rawEvents(),
      controllerLogs: controller.logs(),
      runnerLogs: runner.logs(),
      metrics: await controller.metrics() };
    // The places are not empty: the release and what happened to it are there.
    expect(places.helmRelease).toContain('UpgradeSucceeded');
    expect(places.events).toContain('UpgradeSucceeded');
    expect(places.controllerLogs).toContain('action finished');
    expect(places.runnerLogs.length).toBeGreaterThan(0);
    expect(places.metrics).toContain('planton_helm_release_reconciliation_status');
    for (const [where, text] of Object.entries(places)) {
      expect({ where, leaks: text.includes(canary1) }).toEqual({ where, leaks: false });
      expect({ where, leaks: text.includes(canary2) }).toEqual({ where, leaks: false });
    }
  });
});

describe('values from ConfigMaps', () => {
  it('merge in list order, targetPath sets a string, and values go on top', async () => {
    await putConfigMap('defaults', { 'values.yaml': 'message: from-defaults\nreplicaCount: 2\nlabels:\n  tier: base\n  team: a\n' });
    await putConfigMap('greeting', { text: '12345' });
    await hrs.create(ns, 'merged', chart({
      valuesFrom: [
        { kind: 'ConfigMap', name: 'defaults' },
        { kind: 'ConfigMap', name: 'greeting', key: 'text', targetPath: 'message' },
      ],
      values: { replicaCount: 3, labels: { team: 'b' } } }));
    await waitForCondition(ns, 'merged', 'Ready', 'True');
    const cm = await core.readNamespacedConfigMap({ namespace: ns, name: 'merged-plain' });
    expect(cm.data).toMatchObject({ message: '12345', replicaCount: '3' });
    expect(cm.metadata?.labels).toMatchObject({ tier: 'base', team: 'b' });
    // What Helm stored as the user-supplied values: targetPath gave a string, not the number 12345.
    const { stdout } = await helm(['get', 'values', 'merged', '--namespace', ns, '--output', 'json']);
    expect(JSON.parse(stdout)).toEqual({ message: '12345', replicaCount: 3, labels: { tier: 'base', team: 'b' } });
  });
});

describe('a missing values source', () => {
  it('makes the HelmRelease wait (Ready=False ValuesSourceNotFound, not Stalled), installing nothing', async () => {
    await hrs.create(ns, 'needs', chart({ valuesFrom: [{ kind: 'Secret', name: 'late-values' }] }));
    const hr = await waitForCondition(ns, 'needs', 'Ready', 'False', 60_000, 'ValuesSourceNotFound');
    expect(condition(hr, 'Ready')?.message).toContain('late-values');
    expect(condition(hr, 'Stalled')).toBeUndefined();
    expect(await releaseSecrets('needs')).toHaveLength(0);
    expect((await eventsFor(ns, 'needs')).map((e) => e.reason)).toContain('ValuesSourceNotFound');
  });

  it('is installed once the Secret is created, without any change to the HelmRelease', async () => {
    const generation = (await hrs.get(ns, 'needs'))?.metadata.generation;
    await putSecret('late-values', { 'values.yaml': 'message: arrived\n' });
    const hr = await waitFor('needs to be installed and Ready', async () => {
      const h = await hrs.get(ns, 'needs');
      return condition(h, 'Ready')?.status === 'True' ? h : undefined;
    }, 120_000, 500);
    expect(hr.metadata.generation).toBe(generation);
    expect(hr.status?.release).toMatchObject({ revision: 1, status: 'deployed' });
    expect(condition(hr, 'Released')).toMatchObject({ status: 'True', reason: 'InstallSucceeded' });
    expect((await configMapData('needs-plain'))?.['message']).toBe('arrived');
  });

  it('a key named like an object member (constructor) is just a missing key, not something inherited', async () => {
    await putSecret('plain-secret', { 'values.yaml': 'message: x\n' });
    await hrs.create(ns, 'member-key', chart({ valuesFrom: [{ kind: 'Secret', name: 'plain-secret', key: 'constructor' }] }));
    const hr = await waitForCondition(ns, 'member-key', 'Ready', 'False', 60_000, 'ValuesSourceNotFound');
    expect(condition(hr, 'Ready')?.message).toBe('Secret plain-secret key constructor not found');
  });

  it('is skipped when optional: the release installs with the rest of the values', async () => {
    await hrs.create(ns, 'opt', chart({
      valuesFrom: [{ kind: 'Secret', name: 'never-created', optional: true }],
      values: { message: 'the-rest' } }));
    const hr = await waitForCondition(ns, 'opt', 'Ready', 'True');
    expect(hr.status?.release).toMatchObject({ revision: 1, status: 'deployed' });
    expect((await configMapData('opt-plain'))?.['message']).toBe('the-rest');
  });
});

describe('a values source that is not a YAML mapping', () => {
  it('stalls with InvalidValues, naming the Secret and key but not the content', async () => {
    const canary = canaryOf();
    await putSecret('list-values', { 'values.yaml': `- ${canary}\n` });
    await hrs.create(ns, 'bad', chart({ valuesFrom: [{ kind: 'Secret', name: 'list-values' }] }));
    const hr = await waitForCondition(ns, 'bad', 'Stalled', 'True', 60_000, 'InvalidValues');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidValues' });
    const message = condition(hr, 'Stalled')?.message ?? '';
    expect(message).toContain('list-values');
    expect(message).toContain('values.yaml');
    expect(await releaseSecrets('bad')).toHaveLength(0);
    for (const text of [await rawHelmRelease('bad'), await rawEvents(), controller.logs(), runner.logs()]) {
      expect(text.includes(canary)).toBe(false);
    }
  });
});

/** Every place a user or operator reads, as text. */
async function everyPlace(name: string): Promise<Record<string, string>> {
  return {
    helmRelease: await rawHelmRelease(name),
    events: await rawEvents(),
    controllerLogs: controller.logs(),
    runnerLogs: runner.logs(),
    metrics: await controller.metrics(),
  };
}

function expectNoLeak(places: Record<string, string>, canary: string): void {
  for (const [where, text] of Object.entries(places)) {
    expect({ where, leaks: text.includes(canary) }).toEqual({ where, leaks: false });
  }
}

describe('a value from a Secret quoted by a failure', () => {
  const quoting = (extra: Record<string, unknown>) => ({ repo: clusterEnv().PLANTON_OCI_REPO, name: 'quoting', version: '1.0.0', timeout: '30s', ...extra });

  it('a template `fail` quoting it: Stalled RenderFailed, the message shows [REDACTED], never the value', async () => {
    const canary = canaryOf();
    await putSecret('render-secret', { value: canary });
    await hrs.create(ns, 'render-fails', quoting({ valuesFrom: [{ kind: 'Secret', name: 'render-secret', key: 'value', targetPath: 'failWith' }] }));
    const hr = await waitForCondition(ns, 'render-fails', 'Stalled', 'True', 60_000, 'RenderFailed');
    expect(condition(hr, 'Ready')?.message).toContain('refusing to render with [REDACTED]');
    expectNoLeak(await everyPlace('render-fails'), canary);
  });

  it('the API server refusing it (Invalid value: "..."): InstallFailed with [REDACTED], never the value', async () => {
    // A label value may not hold spaces: the API server refuses the object and quotes the value.
    const canary = `${canaryOf()} not a label`;
    await putSecret('label-secret', { value: canary });
    await hrs.create(ns, 'api-refuses', chart({ atomic: false, remediation: { retries: 0 }, valuesFrom: [{ kind: 'Secret', name: 'label-secret', key: 'value', targetPath: 'labels.team' }] }));
    const hr = await waitForCondition(ns, 'api-refuses', 'Stalled', 'True', 120_000, 'RetriesExhausted');
    expect(condition(hr, 'Released')).toMatchObject({ status: 'False', reason: 'InstallFailed' });
    expect(condition(hr, 'Released')?.message).toContain('[REDACTED]');
    expectNoLeak(await everyPlace('api-refuses'), canary);
  });

  it('an admission policy refusing the drift correction and quoting it: DriftCorrectionFailed with [REDACTED], never the value', async () => {
    const canary = canaryOf();
    await putSecret('token-secret', { value: canary });
    await hrs.create(ns, 'drifty', quoting({ valuesFrom: [{ kind: 'Secret', name: 'token-secret', key: 'value', targetPath: 'token' }] }));
    await waitForCondition(ns, 'drifty', 'Ready', 'True');
    // From now on, ConfigMaps of this namespace holding a token are refused with a message that
    // quotes the token; then the release's ConfigMap is deleted, so the correction must create it.
    const policy = `deny-token-${ns}`;
    const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
    await admission.createValidatingAdmissionPolicy({
      body: {
        metadata: { name: policy },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['configmaps'] }] },
          validations: [{ expression: "!has(object.data) || !('token' in object.data)", messageExpression: "'token ' + object.data.token + ' is refused here'" }],
        },
      },
    });
    await admission.createValidatingAdmissionPolicyBinding({
      body: {
        metadata: { name: policy },
        spec: { policyName: policy, validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } } },
      },
    });
    try {
      // The policy takes effect within a few seconds: wait until it refuses a probe.
      await waitFor('the admission policy to refuse', async () => {
        const refused = await core
          .createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'probe' }, data: { token: 'probe-token' } } })
          .then(async () => {
            await core.deleteNamespacedConfigMap({ namespace: ns, name: 'probe' });
            return false;
          }, () => true);
        return refused ? true : undefined;
      }, 60_000, 1_000);
      await core.deleteNamespacedConfigMap({ namespace: ns, name: 'drifty-quoting' });
      // A reconcile now, so the drift check runs without waiting an interval.
      await requestReconcile(ns, 'drifty');
      const hr = await waitFor('the drift correction to fail', async () => {
        const cur = await hrs.get(ns, 'drifty');
        const events = await eventsFor(ns, 'drifty');
        return events.some((e) => e.reason === 'DriftCorrectionFailed') ? cur : undefined;
      }, 120_000, 1_000);
      const failed = (await eventsFor(ns, 'drifty')).find((e) => e.reason === 'DriftCorrectionFailed');
      expect(failed?.message).toContain('token [REDACTED] is refused here');
      expect(condition(hr, 'Drifted')?.status).toBe('True');
      expectNoLeak(await everyPlace('drifty'), canary);
    } finally {
      await admission.deleteValidatingAdmissionPolicyBinding({ name: policy }).catch(() => undefined);
      await admission.deleteValidatingAdmissionPolicy({ name: policy }).catch(() => undefined);
    }
  });
});

describe('a __proto__ key in values from a Secret', () => {
  it('stalls that HelmRelease with InvalidValues; the controller keeps running and others install', async () => {
    await putSecret('proto-values', { 'values.yaml': '__proto__:\n  polluted: true\n' });
    await hrs.create(ns, 'proto', chart({ valuesFrom: [{ kind: 'Secret', name: 'proto-values' }] }));
    const hr = await waitForCondition(ns, 'proto', 'Stalled', 'True', 60_000, 'InvalidValues');
    expect(condition(hr, 'Stalled')?.message).toContain('Secret proto-values key values.yaml: the key __proto__ is not allowed');
    await hrs.create(ns, 'after-proto', chart({ values: { message: 'still-working' } }));
    await waitForCondition(ns, 'after-proto', 'Ready', 'True');
    expect(controller.process.exitCode).toBeNull();
  });
});
