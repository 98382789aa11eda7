// The `valuesFrom[].targetPath` syntax (Helm's `--set` paths: `a.b`, `list[0].name`, `a\.b` for
// a dot inside a key), parsed once for both the zod schema and values assembly.
//
// A path is data written by a tenant: no step may name a member of JavaScript's object
// machinery (`__proto__`, `constructor`, `prototype`), which a plain `obj[step]` walk would
// follow into the reconciler's own prototypes. The CRD refuses such paths at admission with the
// rules below; the parser refuses them again, and values assembly never indexes inherited
// members anyway.

/** Steps that are refused: they name JavaScript object machinery, not values. */
export const FORBIDDEN_PATH_STEPS: readonly string[] = ['__proto__', 'constructor', 'prototype'];
export const MAX_TARGET_PATH_LENGTH = 1_024;
export const MAX_LIST_INDEX = 10_000;

/**
 * RE2 (CEL) and JavaScript pattern matching a targetPath that names a forbidden step, written as
 * the raw text (a conservative superset: an escaped neighbour counts as a separator).
 */
export const FORBIDDEN_STEP_PATTERN = `(^|[.\\[\\]])(${FORBIDDEN_PATH_STEPS.join('|')})($|[.\\[\\]\\\\])`;
/** Every backslash escapes `.`, `[`, `]` or `\` (so escapes cannot spell a forbidden step). */
export const ESCAPES_PATTERN = '^([^\\\\]|\\\\[.\\[\\]\\\\])*$';

const ESCAPE_MESSAGE = 'may escape only ., [, ] and \\ with a backslash';

export class TargetPathError extends Error {
  override readonly name = 'TargetPathError';
}

/** Parses a targetPath into keys and list indexes; throws TargetPathError naming the problem. */
export function parseTargetPath(path: string): (string | number)[] {
  if (path.length > MAX_TARGET_PATH_LENGTH) throw new TargetPathError(`is longer than ${MAX_TARGET_PATH_LENGTH} characters`);
  // The admission rules' own patterns first, so zod and the CRD refuse exactly the same paths.
  if (new RegExp(FORBIDDEN_STEP_PATTERN).test(path)) throw new TargetPathError(`must not name ${FORBIDDEN_PATH_STEPS.join(', ')}`);
  if (!new RegExp(ESCAPES_PATTERN).test(path)) throw new TargetPathError(ESCAPE_MESSAGE);
  const steps: (string | number)[] = [];
  let key = '';
  const endKey = () => {
    if (key === '') return;
    if (FORBIDDEN_PATH_STEPS.includes(key)) throw new TargetPathError(`must not name ${key}`);
    steps.push(key);
    key = '';
  };
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (c === '\\') {
      const next = path[i + 1];
      if (next === undefined || !'.[]\\'.includes(next)) throw new TargetPathError(ESCAPE_MESSAGE);
      key += next;
      i++;
    } else if (c === '.') {
      endKey();
    } else if (c === '[') {
      endKey();
      const end = path.indexOf(']', i);
      const index = Number(path.slice(i + 1, end));
      if (end < 0 || path.slice(i + 1, end) === '' || !Number.isInteger(index) || index < 0 || index > MAX_LIST_INDEX) {
        throw new TargetPathError(`has a bad list index (0 to ${MAX_LIST_INDEX} in [ ])`);
      }
      steps.push(index);
      i = end;
    } else {
      key += c;
    }
  }
  endKey();
  if (steps.length === 0) throw new TargetPathError('is empty');
  return steps;
}
