// HelmRelease specs that must be admitted or rejected, shared by the unit test that compares zod
// with the CRD schema evaluated in JavaScript (src/api/agreement.test.ts) and the integration test
// that applies them to the real API server (test/api/admission.test.ts).

export interface SpecCase {
  readonly name: string;
  readonly spec: Readonly<Record<string, unknown>>;
}

/** A spec the CRD and zod both reject, with where and what the API server says. */
export interface BadSpecCase extends SpecCase {
  /** Path of the offending field, as both the API server and parseSpec name it. */
  readonly field: string;
  /** Part of the API server's message. */
  readonly message: string;
}

export const MINIMAL_SPEC = {
  repo: 'https://charts.example.com/stable',
  name: 'podinfo',
  version: '1.4.2',
} as const;

const with_ = (name: string, patch: Record<string, unknown>): SpecCase => ({ name, spec: { ...MINIMAL_SPEC, ...patch } });

function without(field: keyof typeof MINIMAL_SPEC): Record<string, unknown> {
  const spec: Record<string, unknown> = { ...MINIMAL_SPEC };
  delete spec[field];
  return spec;
}

const RELEASE_NAME_53 = `r${'e'.repeat(51)}1`;

export const GOOD_SPECS: readonly SpecCase[] = [
  { name: 'the minimal spec', spec: MINIMAL_SPEC },
  with_('an OCI repository', { repo: 'oci://registry.example.com/charts' }),
  with_('a plain-HTTP repository (refused later by the controller, not at admission)', { repo: 'http://127.0.0.1:8080/charts' }),
  with_('a pre-release version', { version: '2.0.0-rc.1' }),
  with_('a version with build metadata', { version: '1.0.0+build.5' }),
  with_('version 0.0.0', { version: '0.0.0' }),
  with_('a chart name with _ and .', { name: 'my_chart.v2' }),
  with_('a 53-character release name', { releaseName: RELEASE_NAME_53 }),
  with_('a dotted release name', { releaseName: 'a.b-c' }),
  with_('targetPaths with escapes, lists and keys that only contain a forbidden word', {
    valuesFrom: [
      { kind: 'Secret', name: 's', targetPath: 'a\\.b' },
      { kind: 'Secret', name: 's', targetPath: 'servers[0].token' },
      { kind: 'Secret', name: 's', targetPath: 'my__proto__.constructors.prototyped' },
      { kind: 'Secret', name: 's', targetPath: 'a\\\\b' },
    ],
  }),
  with_('the shortest timeout', { timeout: '1s' }),
  with_('the longest timeout', { timeout: '1h' }),
  with_('a timeout in milliseconds', { timeout: '1500ms' }),
  with_('a compound timeout', { timeout: '1m30s' }),
  with_('a fractional timeout', { timeout: '0.5h' }),
  with_('a short interval', { interval: '1ms' }),
  with_('a long interval', { interval: '24h' }),
  with_('maxHistory 0 and retries 0', { maxHistory: 0, remediation: { retries: 0 } }),
  with_('free-form values', { values: { replicas: 2, nested: { list: [1, 'two', { three: true }] }, empty: null } }),
  with_('every field set', {
    values: { a: 1 },
    valuesFrom: [
      { kind: 'Secret', name: 'db', key: 'password', targetPath: 'auth.password', optional: true },
      { kind: 'ConfigMap', name: 'common' },
    ],
    atomic: false,
    wait: false,
    timeout: '10m',
    interval: '1h',
    releaseName: 'my-release',
    targetNamespace: 'apps',
    createNamespace: true,
    auth: { secretRef: { name: 'repo-creds' }, caSecretRef: { name: 'repo-ca' } },
    driftDetection: {
      mode: 'warn',
      ignore: [
        { paths: ['/spec/replicas'], target: { group: 'apps', version: 'v1', kind: 'Deployment', name: 'web', namespace: 'apps' } },
        { paths: ['/metadata/annotations/example.com~1checksum'] },
      ],
    },
    remediation: { retries: 5, strategy: 'uninstall' },
    test: { enable: true, ignoreFailures: true },
    dependsOn: [{ name: 'database' }, { name: 'cert-manager', namespace: 'cert-manager' }],
    serviceAccountName: 'deployer',
    maxHistory: 10,
    suspend: true,
    deletionPolicy: 'Orphan',
  }),
];

const SEMVER_MESSAGE = 'version must be an exact SemVer version such as 1.4.2';
const bad = (name: string, spec: Record<string, unknown>, field: string, message: string): BadSpecCase => ({
  name,
  spec,
  field,
  message,
});
const badWith = (name: string, patch: Record<string, unknown>, field: string, message: string): BadSpecCase =>
  bad(name, { ...MINIMAL_SPEC, ...patch }, field, message);

export const BAD_SPECS: readonly BadSpecCase[] = [
  ...['^1.2', '~1', '>=1.0.0', '1.x', '*', 'latest', 'v1.0.0', '1.2', '01.2.3', '1.2.3.4', ''].map((version) =>
    badWith(`version ${JSON.stringify(version)}`, { version }, 'spec.version', SEMVER_MESSAGE),
  ),
  ...['ftp://charts.example.com', 'charts.example.com/stable', 'https://', 'HTTPS://charts.example.com', 'file:///charts'].map(
    (repo) => badWith(`repo ${repo}`, { repo }, 'spec.repo', 'repo must be an https://, oci:// or http:// URL'),
  ),
  ...['team/podinfo', '.', '..', '.hidden', 'pod info'].map((name) =>
    badWith(`chart name ${JSON.stringify(name)}`, { name }, 'spec.name', 'name must be a chart name'),
  ),
  badWith('a 54-character release name', { releaseName: `${RELEASE_NAME_53}4` }, 'spec.releaseName', 'Too long'),
  ...['Upper', '-start', 'end-', 'under_score', 'a..b', 'a.-b', 'a-.b', '.a', 'a.'].map((releaseName) =>
    badWith(`release name ${releaseName}`, { releaseName }, 'spec.releaseName', 'releaseName must be lowercase letters'),
  ),
  ...['0s', '999ms', '2h', '61m'].map((timeout) =>
    badWith(`timeout ${timeout}`, { timeout }, 'spec.timeout', 'timeout must be between 1s and 1h'),
  ),
  ...['5', '5 m', '1d', '-1m', 'abc'].map((timeout) =>
    badWith(`timeout ${JSON.stringify(timeout)}`, { timeout }, 'spec.timeout', 'timeout must be a duration such as 90s'),
  ),
  ...['0s', '0m0s'].map((interval) => badWith(`interval ${interval}`, { interval }, 'spec.interval', 'interval must be positive')),
  badWith('interval without a unit', { interval: '10' }, 'spec.interval', 'interval must be a duration such as 90s'),
  badWith('the unknown field chart', { chart: 'podinfo' }, 'spec.chart', 'unknown field "spec.chart"'),
  bad('no version', without('version'), 'spec.version', 'Required value'),
  bad('no repo', without('repo'), 'spec.repo', 'Required value'),
  bad('no name', without('name'), 'spec.name', 'Required value'),
  badWith('negative retries', { remediation: { retries: -1 } }, 'spec.remediation.retries', 'greater than or equal to 0'),
  badWith('negative maxHistory', { maxHistory: -1 }, 'spec.maxHistory', 'greater than or equal to 0'),
  badWith('deletionPolicy in the wrong case', { deletionPolicy: 'delete' }, 'spec.deletionPolicy', 'Unsupported value'),
  badWith('an unknown drift mode', { driftDetection: { mode: 'Enabled' } }, 'spec.driftDetection.mode', 'Unsupported value'),
  badWith('an unknown strategy', { remediation: { strategy: 'retry' } }, 'spec.remediation.strategy', 'Unsupported value'),
  badWith('a valuesFrom kind that is not Secret or ConfigMap', { valuesFrom: [{ kind: 'Secrets', name: 'x' }] }, 'spec.valuesFrom[0].kind', 'Unsupported value'),
  badWith('a valuesFrom entry without a name', { valuesFrom: [{ kind: 'Secret' }] }, 'spec.valuesFrom[0].name', 'Required value'),
  badWith('an empty valuesFrom key', { valuesFrom: [{ kind: 'Secret', name: 'x', key: '' }] }, 'spec.valuesFrom[0].key', 'at least 1 chars long'),
  badWith('an ignore rule without paths', { driftDetection: { ignore: [{ paths: [] }] } }, 'spec.driftDetection.ignore[0].paths', 'at least 1 items'),
  badWith('an ignore path that is not a JSON pointer', { driftDetection: { ignore: [{ paths: ['spec/replicas'] }] } }, 'spec.driftDetection.ignore[0].paths[0]', 'JSON pointer starting with /'),
  badWith('an empty targetNamespace', { targetNamespace: '' }, 'spec.targetNamespace', 'at least 1 chars long'),
  badWith('an empty dependency namespace', { dependsOn: [{ name: 'db', namespace: '' }] }, 'spec.dependsOn[0].namespace', 'at least 1 chars long'),
  badWith('a dependency without a name', { dependsOn: [{ namespace: 'x' }] }, 'spec.dependsOn[0].name', 'Required value'),
  badWith('an auth secretRef without a name', { auth: { secretRef: {} } }, 'spec.auth.secretRef.name', 'Required value'),
  ...['__proto__.polluted', 'a.__proto__', 'a[0].__proto__.x', 'constructor.prototype.x', 'a.prototype', 'a[0]__proto__'].map((targetPath) =>
    badWith(`targetPath ${targetPath}`, { valuesFrom: [{ kind: 'Secret', name: 's', targetPath }] }, 'spec.valuesFrom[0].targetPath', 'targetPath must not name __proto__, constructor, prototype'),
  ),
  ...['\\_\\_proto\\_\\_.x', 'a\\b', 'a\\'].map((targetPath) =>
    badWith(`targetPath ${targetPath}`, { valuesFrom: [{ kind: 'Secret', name: 's', targetPath }] }, 'spec.valuesFrom[0].targetPath', 'targetPath may escape only'),
  ),
  ...['Apps', 'a.b', 'a_b', '-a'].map((targetNamespace) =>
    badWith(`targetNamespace ${targetNamespace}`, { targetNamespace }, 'spec.targetNamespace', 'targetNamespace must be a namespace name'),
  ),
  badWith('a 64-character targetNamespace', { targetNamespace: 'a'.repeat(64) }, 'spec.targetNamespace', 'Too long'),
  ...['Deployer', 'a_b', 'a..b', 'system:serviceaccount:x:y'].map((serviceAccountName) =>
    badWith(`serviceAccountName ${serviceAccountName}`, { serviceAccountName }, 'spec.serviceAccountName', 'serviceAccountName must be a lowercase DNS-1123 name'),
  ),
  badWith('a valuesFrom name that is not an object name', { valuesFrom: [{ kind: 'Secret', name: '../x' }] }, 'spec.valuesFrom[0].name', 'valuesFrom name must be a lowercase DNS-1123 name'),
  badWith('a dependency name that is not an object name', { dependsOn: [{ name: 'Db' }] }, 'spec.dependsOn[0].name', 'dependsOn name must be a lowercase DNS-1123 name'),
  badWith('a dependency namespace that is not a namespace name', { dependsOn: [{ name: 'db', namespace: 'a.b' }] }, 'spec.dependsOn[0].namespace', 'dependsOn namespace must be a namespace name'),
  badWith('an auth secretRef name that is not an object name', { auth: { secretRef: { name: 'a/b' } } }, 'spec.auth.secretRef.name', 'auth.secretRef.name must be a lowercase DNS-1123 name'),
  badWith('values that are not an object', { values: 'replicas: 2' }, 'spec.values', 'must be of type object'),
  badWith('atomic as a string', { atomic: 'yes' }, 'spec.atomic', 'must be of type boolean'),
];
