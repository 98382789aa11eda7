import { describe, expect, it } from 'vitest';
import { goDuration, matchesRule } from './rules.js';

describe('goDuration', () => {
  it.each([
    [0, '0s'],
    [1_000, '1s'],
    [3_600_000, '1h'],
    [5_400_000, '1h30m'],
    [1_500, '1s500ms'],
  ])('%d ms is %s', (ms, text) => {
    expect(goDuration(ms)).toBe(text);
  });
});

describe('matchesRule', () => {
  it('writes the pattern as a raw CEL string, so backslashes stay as written', () => {
    expect(matchesRule(String.raw`^\d+$`)).toBe(String.raw`self.matches(r'^\d+$')`);
  });

  it('refuses a pattern with a quote, which would end the literal', () => {
    expect(() => matchesRule("^'$")).toThrow('contains a quote');
  });
});
