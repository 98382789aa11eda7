// Release ownership end to end, on the local control plane with the real runner and controller:
// a HelmRelease records itself as the owner of the release it installs, never acts on a release
// another HelmRelease owns (not even on deletion), adopts a release installed with the Helm CLI
// (visibly), and when its releaseName changes installs the new release, then uninstalls the old.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { clusterEnv, helm, helmHistory as history, kubeConfig, waitFor } from '../support/cluster.js';
import { condition, eventsFor, helmReleases, type HelmReleaseView, useController, waitForCondition } from '../support/controller.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const hrs = helmReleases();

let ns: string;

useController('hr-owner', (suite) => ({ ns } = suite));

/** `[revision, status]` of every revision of a release in the suite's namespace, newest first. */
const helmHistory = async (release: string) => (await history(ns, release)).map((r): [number, string] => [r.revision, r.status]);

const plain = (extra: Record<string, unknown> = {}) => ({ repo: clusterEnv().PLANTON_OCI_REPO, name: 'plain', version: '1.0.0', timeout: '60s', ...extra });


/** The owner labels on a release's latest storage Secret. */
async function ownerLabels(release: string): Promise<Record<string, string>> {
  const list = await core.listNamespacedSecret({ namespace: ns, labelSelector: `owner=helm,name=${release}` });
  const latest = list.items.sort((a, b) => Number(b.metadata?.labels?.['version'] ?? 0) - Number(a.metadata?.labels?.['version'] ?? 0))[0];
  const labels = latest?.metadata?.labels ?? {};
  return Object.fromEntries(Object.entries(labels).filter(([k]) => k.startsWith('helm.project-planton.org/owner-')));
}

const readyAt = (name: string, revision: number) =>
  waitFor(`${name} Ready at revision ${revision}`, async () => {
    const hr = await hrs.get(ns, name);
    return condition(hr, 'Ready')?.status === 'True' && hr?.status?.release?.revision === revision && hr.status.observedGeneration === hr.metadata.generation
      ? hr
      : undefined;
  }, 120_000, 500);

describe('a release owned by another HelmRelease', () => {
  let owner: HelmReleaseView;

  it('is recorded on the release: the owner HelmRelease namespace, name and uid', async () => {
    await hrs.create(ns, 'first', plain({ releaseName: 'shared', values: { message: 'mine' } }));
    owner = await readyAt('first', 1);
    expect(await ownerLabels('shared')).toEqual({
      'helm.project-planton.org/owner-namespace': ns,
      'helm.project-planton.org/owner-name': 'first',
      'helm.project-planton.org/owner-uid': owner.metadata.uid,
    });
  });

  it('is not touched by a second HelmRelease naming it: Stalled ReleaseOwnedByOther, naming the owner', async () => {
    await hrs.create(ns, 'second', plain({ releaseName: 'shared', values: { message: 'takeover' } }));
    const hr = await waitForCondition(ns, 'second', 'Stalled', 'True', 60_000, 'ReleaseOwnedByOther');
    expect(condition(hr, 'Ready')).toMatchObject({ status: 'False', reason: 'ReleaseOwnedByOther' });
    expect(condition(hr, 'Stalled')?.message).toContain(`owned by HelmRelease ${ns}/first (uid ${owner.metadata.uid})`);
    expect((await eventsFor(ns, 'second')).map((e) => e.reason)).toContain('ReleaseOwnedByOther');
    // Nothing was written: still the first HelmRelease's single revision and values.
    expect(await helmHistory('shared')).toEqual([[1, 'deployed']]);
    const cm = await core.readNamespacedConfigMap({ namespace: ns, name: 'shared-plain' });
    expect(cm.data?.['message']).toBe('mine');
  });

  it('is left installed when the second HelmRelease is deleted, and the owner stays Ready', async () => {
    await hrs.delete(ns, 'second');
    await waitFor('second gone', async () => ((await hrs.get(ns, 'second')) === undefined ? true : undefined), 60_000);
    const events = await eventsFor(ns, 'second');
    expect(events.find((e) => e.reason === 'Orphaned')?.message).toContain(`not owned by this HelmRelease (it is owned by HelmRelease ${ns}/first`);
    expect(await helmHistory('shared')).toEqual([[1, 'deployed']]);
    expect(condition(await hrs.get(ns, 'first'), 'Ready')?.status).toBe('True');
  });

  it('is uninstalled when its owner is deleted', async () => {
    await hrs.delete(ns, 'first');
    await waitFor('shared uninstalled', async () => ((await helmHistory('shared')).length === 0 ? true : undefined), 120_000);
  });
});

describe('a release installed with the Helm CLI', () => {
  it('is adopted: upgraded to record its owner, with a ReleaseAdopted event and the Released message saying so', async () => {
    await helm(['install', 'handmade', `${clusterEnv().PLANTON_OCI_REPO}/plain`, '--version', '1.0.0', '--namespace', ns, '--plain-http', '--set', 'message=cli']);
    expect(await ownerLabels('handmade')).toEqual({});
    await hrs.create(ns, 'adopter', plain({ releaseName: 'handmade', values: { message: 'declared' } }));
    const hr = await readyAt('adopter', 2);
    expect(condition(hr, 'Released')?.message).toContain(`adopted release ${ns}/handmade, which recorded no owner`);
    const adopted = (await eventsFor(ns, 'adopter')).find((e) => e.reason === 'ReleaseAdopted');
    expect(adopted?.type).toBe('Normal');
    expect(adopted?.message).toContain('this HelmRelease owns the release now');
    expect(await ownerLabels('handmade')).toMatchObject({ 'helm.project-planton.org/owner-uid': hr.metadata.uid });
    expect((await core.readNamespacedConfigMap({ namespace: ns, name: 'handmade-plain' })).data?.['message']).toBe('declared');
  });

  it('once adopted, is uninstalled with its HelmRelease', async () => {
    await hrs.delete(ns, 'adopter');
    await waitFor('handmade uninstalled', async () => ((await helmHistory('handmade')).length === 0 ? true : undefined), 120_000);
  });
});

describe('a releaseName change', () => {
  it('installs the new release, then uninstalls the old one, with events', async () => {
    await hrs.create(ns, 'mover', plain({ releaseName: 'mover-a' }));
    await readyAt('mover', 1);
    await hrs.patchSpec(ns, 'mover', { releaseName: 'mover-b' });
    const hr = await waitFor('mover-b Ready and mover-a gone', async () => {
      const cur = await hrs.get(ns, 'mover');
      const moved = cur?.status?.release?.name === 'mover-b' && condition(cur, 'Ready')?.status === 'True';
      if (moved && cur.status?.previousReleases === undefined && (await helmHistory('mover-a')).length === 0) return cur;
      throw new Error(`now release ${JSON.stringify(cur?.status?.release)}, previous ${JSON.stringify(cur?.status?.previousReleases)}, Ready ${condition(cur, 'Ready')?.message}`);
    }, 180_000, 1_000);
    expect(hr.status?.release).toMatchObject({ name: 'mover-b', namespace: ns, revision: 1, status: 'deployed' });
    expect(await helmHistory('mover-b')).toEqual([[1, 'deployed']]);
    const events = (await eventsFor(ns, 'mover')).map((e) => `${e.reason}: ${e.message}`);
    const installs = events.flatMap((e, i) => (e.startsWith('InstallSucceeded') ? [i] : []));
    const removedA = events.findIndex((e) => e.startsWith('PreviousReleaseUninstalled') && e.includes(`${ns}/mover-a`));
    expect(installs).toHaveLength(2);
    expect(removedA).toBeGreaterThan(installs[1] ?? Number.MAX_SAFE_INTEGER);
  });

  it('on deletion, uninstalls the release it names now', async () => {
    await hrs.delete(ns, 'mover');
    await waitFor('mover-b uninstalled', async () => ((await helmHistory('mover-b')).length === 0 ? true : undefined), 120_000);
  });
});
