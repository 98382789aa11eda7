import { describe, expect, it } from 'vitest';
import { HelmReleaseSpecSchema } from '../api/helm-release.js';
import type { ObjectData } from '../kube/object-reader.js';
import { chartRefOf } from './chart-ref.js';
import { AuthSecretError } from './errors.js';
import { Redactor } from './redaction.js';

const spec = (auth: Record<string, unknown>) =>
  HelmReleaseSpecSchema.parse({ repo: 'oci://registry.example.com/charts', name: 'plain', version: '1.0.0', auth });
const reader = (secrets: Record<string, Record<string, string>>) => ({
  read: async (_kind: 'Secret' | 'ConfigMap', _ns: string, name: string): Promise<ObjectData> => ({ data: secrets[name] }),
});

describe('chartRefOf', () => {
  it('sends basic credentials and makes the redactor scrub them', async () => {
    const r = new Redactor();
    const ref = await chartRefOf(spec({ secretRef: { name: 'creds' } }), 'apps', { reader: reader({ creds: { username: 'robot-user', password: 'p4ssw0rd-x' } }), allowInsecureHttp: false }, r);
    expect(ref.credentials).toEqual({ kind: { $case: 'basicAuth', value: { username: 'robot-user', password: 'p4ssw0rd-x' } } });
    expect(r.scrub('auth failed for robot-user with p4ssw0rd-x')).toBe('auth failed for [REDACTED] with [REDACTED]');
  });

  it('sends a .dockerconfigjson and scrubs every credential inside it, decoded auth included', async () => {
    const auth = Buffer.from('docker-user:docker-pass-1').toString('base64');
    const docker = JSON.stringify({ auths: { 'registry.example.com': { auth, identitytoken: 'tok-abcdef' } } });
    const r = new Redactor();
    const ref = await chartRefOf(spec({ secretRef: { name: 'pull' } }), 'apps', { reader: reader({ pull: { '.dockerconfigjson': docker } }), allowInsecureHttp: false }, r);
    expect(ref.credentials?.kind?.$case).toBe('dockerConfigJson');
    expect(r.scrub(`denied: ${auth} docker-pass-1 docker-user tok-abcdef`)).toBe('denied: [REDACTED] [REDACTED] [REDACTED] [REDACTED]');
  });

  it.each([
    ['a missing Secret', {}, 'repository credentials Secret creds not found'],
    ['a Secret with neither form', { creds: { token: 'x' } }, 'Secret creds has neither username and password nor .dockerconfigjson'],
  ])('refuses %s with AuthSecretError', async (_what, secrets, message) => {
    const got = chartRefOf(spec({ secretRef: { name: 'creds' } }), 'apps', { reader: reader(secrets), allowInsecureHttp: false }, new Redactor());
    await expect(got).rejects.toThrow(AuthSecretError);
    await expect(got).rejects.toThrow(message);
  });
});
