import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';

describe('parseConfig: the tenancy flags', () => {
  it('by default every namespace may act as the controller and cross-namespace references are allowed', () => {
    const c = parseConfig([], {});
    expect(c).toMatchObject({ defaultServiceAccount: '', controllerIdentityNamespaces: ['*'], noCrossNamespaceRefs: false });
  });
  it('with a default ServiceAccount, no namespace acts as the controller unless listed', () => {
    expect(parseConfig(['--default-service-account', 'deployer'], {}).controllerIdentityNamespaces).toEqual([]);
    const listed = parseConfig(['--default-service-account', 'deployer', '--controller-identity-namespaces', 'platform, flux-system'], {});
    expect(listed.controllerIdentityNamespaces).toEqual(['platform', 'flux-system']);
  });
  it('lockdown: no controller identity at all, no cross-namespace references', () => {
    const c = parseConfig(['--controller-identity-namespaces', '', '--no-cross-namespace-refs'], {});
    expect(c).toMatchObject({ controllerIdentityNamespaces: [], noCrossNamespaceRefs: true });
  });
  it('names a bad flag', () => {
    expect(() => parseConfig(['--no-such-flag'], {})).toThrow(/no-such-flag/);
  });
  it('serves the gRPC API only with TLS', () => {
    expect(parseConfig([], {}).apiAddr).toBe('');
    expect(() => parseConfig(['--api-addr', ':9443'], {})).toThrow('--api-addr: the gRPC API serves TLS only: give --api-tls-cert and --api-tls-key with --api-addr');
    const c = parseConfig(['--api-addr', ':9443', '--api-tls-cert', 'c.pem', '--api-tls-key', 'k.pem', '--api-call-timeout', '30s', '--api-token-audiences', 'a, b'], {});
    expect(c).toMatchObject({ apiAddr: ':9443', apiCallTimeoutMs: 30_000, apiTlsReloadMs: 30_000, apiTokenAudiences: ['a', 'b'], apiMaxMessageBytes: 4 * 1024 * 1024 });
    expect(() => parseConfig(['--api-addr', ':9443', '--api-tls-cert', 'c', '--api-tls-key', 'k', '--api-tls-reload-interval', 'often'], {})).toThrow(/--api-tls-reload-interval/);
  });
});
