import { afterEach, describe, expect, it } from 'vitest';
import { InvalidValuesError, mergeValues, resolveValues, setPath, type ValuesSourceReader } from './values.js';

const reader = (docs: Record<string, string>): ValuesSourceReader => ({
  read: async (_kind, name, key) => {
    const data = docs[`${name}/${key}`];
    return data === undefined ? undefined : { data };
  },
});

describe('values assembly never reaches a prototype', () => {
  afterEach(() => {
    // A failing case must not leak into the others.
    delete (Object.prototype as Record<string, unknown>)['polluted'];
  });

  it.each(['__proto__.polluted', 'a.__proto__.polluted', 'constructor.prototype.polluted', 'a[0].__proto__.polluted', '\\_\\_proto\\_\\_.polluted'])(
    'targetPath %s is refused and pollutes nothing',
    (path) => {
      expect(() => setPath({}, path, 'yes', 'Secret s key k')).toThrow(InvalidValuesError);
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    },
  );

  it('a __proto__ key in a values document from a Secret is refused, naming where it is', async () => {
    const refs = [{ kind: 'Secret' as const, name: 'evil', key: 'values.yaml', optional: false }];
    await expect(resolveValues(refs, {}, reader({ 'evil/values.yaml': 'a:\n  __proto__:\n    polluted: true\n' }))).rejects.toThrow(
      'Secret evil key values.yaml: the key a.__proto__ is not allowed',
    );
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('a __proto__ key in inline values (as JSON.parse makes it) is refused', async () => {
    const inline = JSON.parse('{"list": [{"__proto__": {"polluted": true}}]}') as Record<string, unknown>;
    await expect(resolveValues([], inline, reader({}))).rejects.toThrow('spec.values: the key list[0].__proto__ is not allowed');
  });

  it('keys named like object members are plain values: merged and set as own keys', () => {
    const merged = mergeValues({ constructor: { a: 1 } }, { constructor: { b: 2 }, toString: 'x', hasOwnProperty: 1 });
    expect(merged).toEqual({ constructor: { a: 1, b: 2 }, toString: 'x', hasOwnProperty: 1 });
    expect(setPath({}, 'toString.valueOf', 'v', 'w')).toEqual({ toString: { valueOf: 'v' } });
  });

  it('setPath creates lists and maps and keeps escaped dots', () => {
    expect(setPath({ a: { keep: 1 } }, 'a.servers[1].token', 't', 'w')).toEqual({ a: { keep: 1, servers: [undefined, { token: 't' }] } });
    expect(setPath({}, 'a\\.b', 'v', 'w')).toEqual({ 'a.b': 'v' });
  });
});
