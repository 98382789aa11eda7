import { describe, expect, it } from 'vitest';
import { normalizeComment, saysAtLeastOne, saysNotNegative, saysRequired, statedDefault, writtenAs } from './comments.js';

describe('proto comment conventions', () => {
  it('joins the lines of a paragraph and keeps paragraphs apart', () => {
    expect(normalizeComment(' First line\n second line.\n\n Next paragraph.\n')).toBe('First line second line.\n\nNext paragraph.');
  });

  it.each([
    ['Name of the chart. Required. Letters only.', true],
    ['Not required.', false],
    ['At least one is required.', false],
  ])('%j says required: %s', (comment, required) => {
    expect(saysRequired(comment)).toBe(required);
  });

  it('reads the stated default, only in the "Default `x`" form', () => {
    expect(statedDefault('Timeout. Default `5m`. Must be between `1s` and `1h`.')).toBe('5m');
    expect(statedDefault("Default: the HelmRelease's own `metadata.name`.")).toBeUndefined();
  });

  it('reads the written spelling of an enum value and the other phrases', () => {
    expect(writtenAs('Leave it. Written `Orphan`.')).toBe('Orphan');
    expect(writtenAs('Not set: same as `Delete`.')).toBeUndefined();
    expect(saysAtLeastOne('JSON pointers. At least one is required.')).toBe(true);
    expect(saysNotNegative('Default `5`. Must not be negative.')).toBe(true);
  });
});
