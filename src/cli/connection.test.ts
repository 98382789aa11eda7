import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { defaultNamespace, kubeconfigPaths, readKubeContext, resolveConnection } from './connection.js';
import { ConnectionError } from './errors.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'planton-helm-kc-'));
});

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const kubeconfig = `apiVersion: v1
kind: Config
current-context: dev
contexts:
  - name: dev
    context: {cluster: c, user: deployer, namespace: team-a}
  - name: ci
    context: {cluster: c, user: ci-bot}
  - name: certs
    context: {cluster: c, user: admin}
  - name: plugin
    context: {cluster: c, user: eks}
users:
  - name: deployer
    user: {token: dev-token}
  - name: ci-bot
    user: {tokenFile: ci.token}
  - name: admin
    user: {client-certificate-data: AAAA, client-key-data: BBBB}
  - name: eks
    user: {exec: {command: aws}}
`;

describe('the kubeconfig', () => {
  it("gives the current context's namespace and its user's token", () => {
    const ctx = readKubeContext({ kubeconfig: file('config', kubeconfig) }, {});
    expect(ctx).toMatchObject({ name: 'dev', namespace: 'team-a', token: 'dev-token' });
    expect(defaultNamespace(ctx)).toBe('team-a');
  });

  it('reads a tokenFile relative to the kubeconfig, for --context', () => {
    file('ci.token', 'ci-token\n');
    const ctx = readKubeContext({ kubeconfig: file('config', kubeconfig), context: 'ci' }, {});
    expect(ctx).toMatchObject({ name: 'ci', namespace: undefined, token: 'ci-token' });
    expect(defaultNamespace(ctx)).toBe('default');
  });

  it('merges the files of KUBECONFIG, the first definition winning', () => {
    const first = file('a', 'current-context: dev\nusers:\n  - name: deployer\n    user: {token: first}\n');
    const second = file('b', kubeconfig);
    const ctx = readKubeContext({}, { KUBECONFIG: [join(dir, 'missing'), first, second].join(delimiter) });
    expect(ctx).toMatchObject({ name: 'dev', namespace: 'team-a', token: 'first' });
  });

  it('says why a user has no token', () => {
    const path = file('config', kubeconfig);
    expect(readKubeContext({ kubeconfig: path, context: 'certs' }, {}).noTokenReason).toBe('kubeconfig user admin has no token (client certificates cannot be sent to the API)');
    expect(readKubeContext({ kubeconfig: path, context: 'plugin' }, {}).noTokenReason).toBe('kubeconfig user eks gets its token from a plugin, which planton-helm does not run');
  });

  it('is optional when not named: no ~/.kube/config is namespace default and no token', () => {
    const ctx = readKubeContext({}, { HOME: dir });
    expect(ctx).toMatchObject({ name: undefined, token: undefined, noTokenReason: 'no kubeconfig' });
    expect(defaultNamespace(ctx)).toBe('default');
    expect(kubeconfigPaths(undefined, { HOME: dir })).toEqual({ paths: [join(dir, '.kube', 'config')], explicit: false });
  });

  it.each([
    ['a --kubeconfig that does not exist', () => readKubeContext({ kubeconfig: join(dir, 'nope') }, {}), /cannot read kubeconfig .*nope/],
    ['a --context that is not defined', () => readKubeContext({ kubeconfig: file('config', kubeconfig), context: 'prod' }, {}), 'context prod is not in the kubeconfig'],
    ['a file that is not YAML', () => readKubeContext({ kubeconfig: file('config', 'users: [unclosed\n') }, {}), /is not YAML/],
    ['a file that is not a kubeconfig', () => readKubeContext({ kubeconfig: file('config', 'users: 3\n') }, {}), /is not a kubeconfig/],
  ])('refuses %s', (_what, read, message) => {
    expect(read).toThrow(ConnectionError);
    expect(read).toThrow(message);
  });
});

describe('resolveConnection', () => {
  const noKube = () => ({ name: undefined, namespace: undefined, token: undefined, noTokenReason: 'no kubeconfig' });

  it('takes flags first, then the environment, then the kubeconfig', () => {
    const ca = file('ca.pem', 'PEM');
    const env = { PLANTON_API_ADDR: 'env:1', PLANTON_API_TOKEN: 'env-token', PLANTON_API_CA: ca };
    const kube = () => ({ name: 'dev', namespace: undefined, token: 'kube-token', noTokenReason: undefined });
    expect(resolveConnection({ server: 'flag:2', token: 'flag-token' }, env, kube)).toMatchObject({ address: 'flag:2', token: 'flag-token', ca: Buffer.from('PEM') });
    expect(resolveConnection({}, env, kube)).toMatchObject({ address: 'env:1', token: 'env-token' });
    expect(resolveConnection({}, { PLANTON_API_ADDR: 'env:1' }, kube)).toMatchObject({ address: 'env:1', token: 'kube-token', ca: undefined });
  });

  it.each([
    ['no server', {}, {}, 'no API server: pass --server HOST:PORT or set PLANTON_API_ADDR'],
    ['a URL for a server', { server: 'https://x:1' }, {}, '--server takes HOST:PORT, not a URL: https://x:1'],
    ['no token anywhere', { server: 'x:1' }, {}, 'no token: pass --token, set PLANTON_API_TOKEN, or use a kubeconfig context whose user has a token (no kubeconfig)'],
    ['an unreadable CA', { server: 'x:1', token: 't', caFile: '/nonexistent/ca.pem' }, {}, /cannot read the CA file \/nonexistent\/ca.pem/],
  ])('refuses %s', (_what, flags, env, message) => {
    expect(() => resolveConnection(flags, env, noKube)).toThrow(message);
  });
});
