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
});
