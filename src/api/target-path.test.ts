import { describe, expect, it } from 'vitest';
import { parseTargetPath, TargetPathError } from './target-path.js';

describe('parseTargetPath', () => {
  it.each([
    ['a.b', ['a', 'b']],
    ['servers[0].token', ['servers', 0, 'token']],
    ['a\\.b.c', ['a.b', 'c']],
    ['a\\\\b', ['a\\b']],
    ['list[2][3]', ['list', 2, 3]],
    ['my__proto__', ['my__proto__']],
  ])('%s', (path, steps) => {
    expect(parseTargetPath(path)).toEqual(steps);
  });

  it.each([
    ['__proto__', 'must not name'],
    ['a.constructor', 'must not name'],
    ['a[1]prototype', 'must not name'],
    ['\\_\\_proto\\_\\_', 'may escape only'],
    ['a\\', 'may escape only'],
    ['a[x]', 'bad list index'],
    ['a[10001]', 'bad list index'],
    ['a[]', 'bad list index'],
    ['a[1', 'bad list index'],
    ['.', 'is empty'],
    ['x'.repeat(1025), 'longer than'],
  ])('%s is refused (%s)', (path, message) => {
    expect(() => parseTargetPath(path)).toThrow(TargetPathError);
    expect(() => parseTargetPath(path)).toThrow(message);
  });
});
