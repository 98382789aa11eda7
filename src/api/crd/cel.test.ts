import { describe, expect, it } from 'vitest';
import { CelEvaluationError, CelUnsupportedError, evaluateRule, parseGoDuration } from './cel.js';

describe('evaluateRule', () => {
  it.each([
    [String.raw`self.matches(r'^\d+\.\d+$')`, '1.2', true],
    [String.raw`self.matches(r'^\d+\.\d+$')`, '1.x', false],
    ["self.startsWith('/')", '/spec', true],
    ["self.startsWith('/')", 'spec', false],
    ["duration(self) >= duration('1s') && duration(self) <= duration('1h')", '1h', true],
    ["duration(self) >= duration('1s') && duration(self) <= duration('1h')", '1h0m1s', false],
    ["duration(self) > duration('0s')", '1ms', true],
    ['size(self) <= 3', 'abcd', false],
    ["!(self == 'a') || self != 'a'", 'a', false],
  ])('%s with self=%s is %s', (rule, self, expected) => {
    expect(evaluateRule(rule, self)).toBe(expected);
  });

  it('is commutative over errors like CEL: a true side of || wins over a failing one', () => {
    expect(evaluateRule("duration(self) > duration('0s') || true", 'nonsense')).toBe(true);
    expect(() => evaluateRule("duration(self) > duration('0s') || false", 'nonsense')).toThrow(CelEvaluationError);
  });

  it('refuses syntax outside its subset instead of guessing', () => {
    expect(() => evaluateRule('self.all(x, x > 0)', 'a')).toThrow(CelUnsupportedError);
    expect(() => evaluateRule('self + 1 > 2', 'a')).toThrow(CelUnsupportedError);
  });
});

describe('parseGoDuration', () => {
  it.each([
    ['0', 0],
    ['1h30m', 5_400e9],
    ['1.5s', 1.5e9],
    ['500ms', 500e6],
    ['-2m', -120e9],
  ])('%s is %d ns', (text, ns) => {
    expect(parseGoDuration(text)).toBe(ns);
  });

  it.each(['', '5', '1d', '5 m', 'h'])('rejects %j', (text) => {
    expect(() => parseGoDuration(text)).toThrow(CelEvaluationError);
  });
});
