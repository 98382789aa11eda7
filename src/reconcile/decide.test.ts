import { describe, expect, it } from 'vitest';
import { HelmReleaseSpecSchema } from '../api/helm-release.js';
import { type ReleaseRevision, type ReleaseState, ReleaseStatus } from '../runner/client.js';
import { type Attempts, attemptsFor, decide, decideDeletion, preflight } from './decide.js';
import { determineReleaseState, type Desired, type Owner } from './state.js';
import { releaseIdentity, type TenancyPolicy } from './tenancy.js';

const spec = (over: Record<string, unknown> = {}) =>
  HelmReleaseSpecSchema.parse({ repo: 'oci://charts.example.com/team', name: 'plain', version: '1.1.0', ...over });
const desired: Desired = { chartVersion: '1.1.0', valuesDigest: 'v1', configDigest: 'c1' };
const self: Owner = { namespace: 'apps', name: 'web', uid: 'uid-web' };
const other = { namespace: 'team-b', name: 'db', uid: 'uid-db' };

function release(over: Partial<ReleaseState> = {}): ReleaseState {
  return {
    exists: true,
    revision: 2,
    status: ReleaseStatus.DEPLOYED,
    chartName: 'plain',
    chartVersion: '1.1.0',
    appVersion: '',
    valuesDigest: 'v1',
    configDigest: 'c1',
    pendingLockHeld: false,
    operationInProgress: false,
    description: '',
    tests: { hasTests: false, ran: false, succeeded: false, completedTime: undefined },
    firstDeployedTime: undefined,
    lastDeployedTime: undefined,
    owner: self,
    ...over,
  };
}
const rev = (revision: number, status: ReleaseStatus): ReleaseRevision => ({
  revision,
  status,
  chartName: 'plain',
  chartVersion: '1.0.0',
  appVersion: '',
  valuesDigest: 'v0',
  deployedTime: undefined,
  description: '',
  tests: undefined,
});
const fresh: Attempts = { install: 0, upgrade: 0, sameAttempt: false };
const same = (install: number, upgrade: number): Attempts => ({ install, upgrade, sameAttempt: true });

describe('decide', () => {
  it.each([
    ['nothing installed → install', spec(), undefined, [], fresh, undefined, 'install'],
    ['uninstalled record → install', spec(), release({ status: ReleaseStatus.UNINSTALLED }), [], fresh, undefined, 'install'],
    ['install failed 4 times with 3 retries → stall', spec(), undefined, [], same(4, 0), undefined, 'stall'],
    ['install failed 3 times with 3 retries → install again', spec(), undefined, [], same(3, 0), undefined, 'install'],
    ['pending left by a dead process → unlock', spec(), release({ status: ReleaseStatus.PENDING_UPGRADE }), [], fresh, undefined, 'unlock'],
    ['pending with an operation running → wait', spec(), release({ status: ReleaseStatus.PENDING_UPGRADE, operationInProgress: true }), [], fresh, undefined, 'wait'],
    ['other chart version → upgrade', spec(), release({ chartVersion: '1.0.0' }), [], fresh, undefined, 'upgrade'],
    ['other values → upgrade', spec(), release({ valuesDigest: 'v0' }), [], fresh, undefined, 'upgrade'],
    ['other repository → upgrade', spec(), release({ configDigest: 'c0' }), [], fresh, undefined, 'upgrade'],
    ['out of sync, upgrade failed past retries → stall', spec(), release({ chartVersion: '1.0.0' }), [], same(0, 4), undefined, 'stall'],
    ['failed upgrade with a deployed predecessor → rollback', spec(), release({ status: ReleaseStatus.FAILED, revision: 3 }), [rev(3, ReleaseStatus.FAILED), rev(2, ReleaseStatus.SUPERSEDED)], same(0, 1), undefined, 'rollback'],
    ['failed upgrade, strategy uninstall → uninstall', spec({ remediation: { strategy: 'uninstall' } }), release({ status: ReleaseStatus.FAILED, revision: 3 }), [rev(2, ReleaseStatus.SUPERSEDED)], same(0, 1), undefined, 'uninstall-remediation'],
    ['failed install (nothing deployed before) → uninstall', spec(), release({ status: ReleaseStatus.FAILED, revision: 1 }), [rev(1, ReleaseStatus.FAILED)], same(1, 0), undefined, 'uninstall-remediation'],
    ['failed and retries spent → stall', spec({ remediation: { retries: 0 } }), release({ status: ReleaseStatus.FAILED, revision: 3 }), [rev(2, ReleaseStatus.SUPERSEDED)], same(0, 1), undefined, 'stall'],
    ['failed, but the spec changed since → upgrade', spec(), release({ status: ReleaseStatus.FAILED, revision: 3 }), [rev(2, ReleaseStatus.SUPERSEDED)], fresh, undefined, 'upgrade'],
    ['failed install, the spec changed since → uninstall, counted as the new attempt', spec(), release({ status: ReleaseStatus.FAILED, revision: 1 }), [rev(1, ReleaseStatus.FAILED)], fresh, undefined, 'uninstall-remediation'],
    ['tests enabled, not run → test', spec({ test: { enable: true } }), release({ tests: { hasTests: true, ran: false, succeeded: false, completedTime: undefined } }), [], fresh, undefined, 'test'],
    ['tests failed → rollback', spec({ test: { enable: true } }), release({ revision: 3, tests: { hasTests: true, ran: true, succeeded: false, completedTime: undefined } }), [rev(2, ReleaseStatus.SUPERSEDED)], same(0, 1), undefined, 'rollback'],
    ['tests failed but ignored → ready', spec({ test: { enable: true, ignoreFailures: true } }), release({ tests: { hasTests: true, ran: true, succeeded: false, completedTime: undefined } }), [], fresh, 0, 'ready'],
    ['in sync, no drift → ready', spec(), release(), [], fresh, 0, 'ready'],
    ['in sync, drift, enabled → correct', spec(), release(), [], fresh, 2, 'correct-drift'],
    ['in sync, drift, warn → ready (reported)', spec({ driftDetection: { mode: 'warn' } }), release(), [], fresh, 2, 'ready'],
    ['left uninstalling by a failed delete hook → uninstall again (not unlock)', spec(), release({ status: ReleaseStatus.UNINSTALLING, revision: 1 }), [], same(1, 0), undefined, 'uninstall-remediation'],
    ['uninstalling with an operation running → wait', spec(), release({ status: ReleaseStatus.UNINSTALLING, operationInProgress: true }), [], fresh, undefined, 'wait'],
    ['owned by another HelmRelease → stall', spec(), release({ owner: other }), [], fresh, undefined, 'stall'],
    ['owned by another HelmRelease, even failed → stall', spec(), release({ owner: other, status: ReleaseStatus.FAILED }), [], same(0, 1), undefined, 'stall'],
    ['owned by another HelmRelease, even pending → stall', spec(), release({ owner: other, status: ReleaseStatus.PENDING_INSTALL }), [], fresh, undefined, 'stall'],
    ['no owner recorded, otherwise in sync → upgrade (adopt)', spec(), release({ owner: undefined }), [], fresh, undefined, 'upgrade'],
    ['no owner recorded and pending → unlock first', spec(), release({ owner: undefined, status: ReleaseStatus.PENDING_UPGRADE }), [], fresh, undefined, 'unlock'],
  ] as const)('%s', (_name, s, rel, history, attempts, drifted, want) => {
    const state = determineReleaseState(s, desired, rel, self);
    const plan = decide({ spec: s, state, history, attempts, ...(drifted !== undefined ? { driftedObjects: drifted } : {}) });
    expect(plan.kind).toBe(want);
  });

  it('rolls back to the newest deployed revision, skipping failed ones', () => {
    const s = spec();
    const history = [rev(5, ReleaseStatus.FAILED), rev(4, ReleaseStatus.FAILED), rev(3, ReleaseStatus.SUPERSEDED), rev(2, ReleaseStatus.SUPERSEDED)];
    const plan = decide({ spec: s, state: determineReleaseState(s, desired, release({ status: ReleaseStatus.FAILED, revision: 5 }), self), history, attempts: same(0, 1) });
    expect(plan).toMatchObject({ kind: 'rollback', toRevision: 3 });
  });

  it('does not roll back to a revision that failed and was later marked superseded', () => {
    const s = spec();
    const failedThenSuperseded = { ...rev(3, ReleaseStatus.SUPERSEDED), description: 'Upgrade "web" failed: context deadline exceeded' };
    const history = [rev(4, ReleaseStatus.FAILED), failedThenSuperseded, rev(2, ReleaseStatus.SUPERSEDED)];
    const plan = decide({ spec: s, state: determineReleaseState(s, desired, release({ status: ReleaseStatus.FAILED, revision: 4 }), self), history, attempts: same(0, 1) });
    expect(plan).toMatchObject({ kind: 'rollback', toRevision: 2, counter: 'upgrade' });
  });

  it('says why it stalls, with the counts', () => {
    const s = spec({ remediation: { retries: 1 } });
    const plan = decide({ spec: s, state: determineReleaseState(s, desired, release({ chartVersion: '1.0.0' }), self), history: [], attempts: same(0, 2) });
    expect(plan).toMatchObject({ kind: 'stall', reason: 'RetriesExhausted' });
    expect(plan.kind === 'stall' && plan.message).toContain('upgrade failed 2 time(s) and remediation.retries is 1');
  });
});

const openTenancy: TenancyPolicy = { defaultServiceAccount: '', controllerIdentityNamespaces: ['*'], noCrossNamespaceRefs: false };
const lockdown: TenancyPolicy = { defaultServiceAccount: '', controllerIdentityNamespaces: ['platform'], noCrossNamespaceRefs: true };

describe('preflight under the lockdown policy', () => {
  const check = (over: Record<string, unknown>, namespace = 'apps', tenancy = lockdown) =>
    preflight({ spec: spec(over), namespace, tenancy, allowInsecureHttp: false, dependenciesNotReady: [] });
  it.each([
    ['another targetNamespace', { targetNamespace: 'team-b', serviceAccountName: 'deployer' }, 'CrossNamespaceRefused', 'targetNamespace team-b is another namespace'],
    ['a dependency in another namespace', { dependsOn: [{ name: 'db', namespace: 'team-b' }], serviceAccountName: 'deployer' }, 'CrossNamespaceRefused', 'dependsOn team-b/db'],
    ['no ServiceAccount outside the controller-identity namespaces', {}, 'ServiceAccountRequired', 'set spec.serviceAccountName'],
  ])('refuses %s', (_n, over, reason, message) => {
    const plan = check(over);
    expect(plan).toMatchObject({ kind: 'stall', reason });
    expect(plan?.kind === 'stall' && plan.message).toContain(message);
  });
  it('admits its own namespace, a ServiceAccount, and the controller identity where allowed', () => {
    expect(check({ targetNamespace: 'apps', serviceAccountName: 'deployer', dependsOn: [{ name: 'db', namespace: 'apps' }] })).toBeUndefined();
    expect(check({}, 'platform')).toBeUndefined();
    expect(check({}, 'apps', { ...lockdown, defaultServiceAccount: 'tenant' })).toBeUndefined();
  });
  it('resolves the identity: own ServiceAccount, controller in privileged namespaces, else the default', () => {
    const policy = { ...lockdown, defaultServiceAccount: 'tenant' };
    expect(releaseIdentity(spec({ serviceAccountName: 'mine' }), 'platform', policy)).toEqual({ kind: 'service-account', name: 'mine' });
    expect(releaseIdentity(spec(), 'platform', policy)).toEqual({ kind: 'controller' });
    expect(releaseIdentity(spec(), 'apps', policy)).toEqual({ kind: 'service-account', name: 'tenant' });
  });
});

describe('preflight', () => {
  it('refuses plain HTTP without the flag, names the repository', () => {
    const plan = preflight({ namespace: 'apps', tenancy: openTenancy, spec: spec({ repo: 'http://charts.example.com' }), allowInsecureHttp: false, dependenciesNotReady: [] });
    expect(plan).toMatchObject({ kind: 'stall', reason: 'InsecureRepository' });
  });
  it('allows plain HTTP with the flag', () => {
    expect(preflight({ namespace: 'apps', tenancy: openTenancy, spec: spec({ repo: 'http://charts.example.com' }), allowInsecureHttp: true, dependenciesNotReady: [] })).toBeUndefined();
  });
  it('waits for dependencies', () => {
    expect(preflight({ namespace: 'apps', tenancy: openTenancy, spec: spec(), allowInsecureHttp: false, dependenciesNotReady: ['ns/db'] })).toMatchObject({ kind: 'wait', reason: 'DependencyNotReady' });
  });
});

describe('decideDeletion', () => {
  it.each([
    ['Delete with a release → uninstall', spec(), true, 'self', 'uninstall'],
    ['Orphan → keep', spec({ deletionPolicy: 'Orphan' }), true, 'self', 'release-finalizer'],
    ['suspended → keep', spec({ suspend: true }), true, 'self', 'release-finalizer'],
    ['nothing installed → just release', spec(), false, 'self', 'release-finalizer'],
    ['invalid spec → left installed', undefined, true, 'self', 'release-finalizer'],
    ['owned by another HelmRelease → left installed', spec(), true, 'other', 'release-finalizer'],
    ['owned by nobody (never adopted) → left installed', spec(), true, 'none', 'release-finalizer'],
  ] as const)('%s', (_n, s, exists, owner, want) => {
    expect(decideDeletion({ spec: s, releaseExists: exists, owner }).kind).toBe(want);
  });

  it('says whose the release is when it is left', () => {
    const plan = decideDeletion({ spec: spec(), releaseExists: true, owner: 'other', ownerReason: 'it is owned by HelmRelease team-b/db (uid uid-db)' });
    expect(plan.reason).toContain('team-b/db');
  });
});

it('the uninstall that starts a new attempt counts against it', () => {
  const s = spec();
  const plan = decide({ spec: s, state: determineReleaseState(s, desired, release({ status: ReleaseStatus.UNINSTALLING, revision: 1 }), self), history: [], attempts: fresh });
  expect(plan).toMatchObject({ kind: 'uninstall-remediation', counter: 'install' });
});

describe('releases under earlier names', () => {
  const previous = { name: 'old', namespace: 'apps' };
  it('are uninstalled once the current release is ready, one at a time', () => {
    const s = spec();
    const plan = decide({ spec: s, state: determineReleaseState(s, desired, release(), self), history: [], attempts: fresh, driftedObjects: 0, previousReleases: [previous, { name: 'older', namespace: 'apps' }] });
    expect(plan).toMatchObject({ kind: 'uninstall-previous', previous });
  });
  it('wait while the current release is not ready', () => {
    const s = spec();
    const plan = decide({ spec: s, state: determineReleaseState(s, desired, undefined, self), history: [], attempts: fresh, previousReleases: [previous] });
    expect(plan.kind).toBe('install');
    const drifting = decide({ spec: s, state: determineReleaseState(s, desired, release(), self), history: [], attempts: fresh, driftedObjects: 1, previousReleases: [previous] });
    expect(drifting.kind).toBe('correct-drift');
  });
});

describe('attemptsFor', () => {
  const status = { lastAttemptedGeneration: 3, lastAttemptedChartVersion: '1.1.0', lastAttemptedValuesDigest: 'v1', lastAttemptedConfigDigest: 'c1', installFailures: 1, upgradeFailures: 2 };
  it('keeps the counters for the same attempt', () => {
    expect(attemptsFor(status, 3, desired)).toEqual({ install: 1, upgrade: 2, sameAttempt: true });
  });
  it.each([
    ['a new generation', 4, desired],
    ['new values', 3, { ...desired, valuesDigest: 'v2' }],
  ] as const)('resets them on %s', (_n, gen, d) => {
    expect(attemptsFor(status, gen, d)).toEqual({ install: 0, upgrade: 0, sameAttempt: false });
  });
});
