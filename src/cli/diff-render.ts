// How `planton-helm diff` shows a preview: per object `namespace, name, Kind (group/version)`
// and whether it has been added, removed or has changed, with a unified diff of each changed
// field (values as YAML); coloured only when asked to. Or the same as JSON for machines.
// Secret data is never shown: the server withholds it (FieldDiff.redacted) and the renderer
// also refuses to print a Secret's data or stringData whatever the server sent.
import { stringify as toYaml } from 'yaml';
import { ChangeType, type DiffResponse, type FieldDiff, type ObjectDiff } from './client.js';
import { serialize } from './output.js';

/** One HelmRelease's preview. */
export interface ReleaseDiff {
  readonly namespace: string;
  readonly name: string;
  readonly response: DiffResponse;
}

/** Whether any preview would change the cluster: a new release, or any object added, changed or removed. */
export function hasChanges(diffs: readonly ReleaseDiff[]): boolean {
  return diffs.some((d) => d.response.install || changedObjects(d.response).length > 0);
}

function changedObjects(r: DiffResponse): ObjectDiff[] {
  return r.objects.filter((o) => o.change === ChangeType.CREATE || o.change === ChangeType.UPDATE || o.change === ChangeType.DELETE);
}

const CHANGE_WORDS = new Map<number, string>([
  [ChangeType.CREATE, 'added'],
  [ChangeType.UPDATE, 'changed'],
  [ChangeType.DELETE, 'removed'],
]);

/** True for the fields of a Secret that hold its values. */
function isSecretData(o: ObjectDiff, f: FieldDiff): boolean {
  return o.kind === 'Secret' && o.apiVersion === 'v1' && /^\/(data|stringData)(\/|$)/.test(f.path);
}

function redacted(o: ObjectDiff, f: FieldDiff): boolean {
  return f.redacted || isSecretData(o, f);
}

/** `namespace, name, Kind (group/version)`; a cluster-scoped object has no namespace part. */
export function objectTitle(o: ObjectDiff): string {
  return `${o.namespace ? `${o.namespace}, ` : ''}${o.name}, ${o.kind} (${o.apiVersion})`;
}

interface Palette {
  readonly added: (s: string) => string;
  readonly removed: (s: string) => string;
  readonly changed: (s: string) => string;
  readonly hunk: (s: string) => string;
  readonly title: (s: string) => string;
  readonly faint: (s: string) => string;
}

const sgr = (code: string) => (s: string) => `\u001b[${code}m${s}\u001b[0m`;
const COLOURS: Palette = { added: sgr('32'), removed: sgr('31'), changed: sgr('33'), hunk: sgr('36'), title: sgr('1'), faint: sgr('2') };
const PLAIN: Palette = { added: (s) => s, removed: (s) => s, changed: (s) => s, hunk: (s) => s, title: (s) => s, faint: (s) => s };

/** A field's value (JSON text from the server) as YAML lines; empty when not set. */
function valueLines(json: string): string[] {
  if (json === '') return [];
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    value = json;
  }
  return toYaml(value, { lineWidth: 0 }).replace(/\n$/, '').split('\n');
}

type Edit = { readonly op: ' ' | '-' | '+'; readonly line: string };

/** Beyond this many line pairs, a value is shown removed then added instead of line by line. */
const MAX_LCS_CELLS = 4_000_000;

/** A line diff of `a` to `b` (longest common subsequence). */
export function lineDiff(a: readonly string[], b: readonly string[]): Edit[] {
  if (a.length * b.length > MAX_LCS_CELLS) return [...a.map((line) => ({ op: '-' as const, line })), ...b.map((line) => ({ op: '+' as const, line }))];
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    const row = lcs[i] as number[];
    const next = lcs[i + 1] as number[];
    for (let j = b.length - 1; j >= 0; j--) row[j] = a[i] === b[j] ? (next[j + 1] ?? 0) + 1 : Math.max(next[j] ?? 0, row[j + 1] ?? 0);
  }
  const out: Edit[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push({ op: ' ', line: a[i] as string });
      i++;
      j++;
    } else if (i < a.length && (j >= b.length || (lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0))) {
      // Removals before additions, as unified diffs print them.
      out.push({ op: '-', line: a[i] as string });
      i++;
    } else {
      out.push({ op: '+', line: b[j] as string });
      j++;
    }
  }
  return out;
}

/** Unchanged lines kept around a change; farther ones are elided. */
const CONTEXT_LINES = 3;

function withContext(edits: readonly Edit[]): (Edit | 'elided')[] {
  const near = edits.map((_, k) => edits.slice(Math.max(0, k - CONTEXT_LINES), k + CONTEXT_LINES + 1).some((e) => e.op !== ' '));
  const out: (Edit | 'elided')[] = [];
  edits.forEach((e, k) => {
    if (e.op !== ' ' || near[k]) out.push(e);
    else if (out.at(-1) !== 'elided') out.push('elided');
  });
  return out;
}

function renderField(o: ObjectDiff, f: FieldDiff, p: Palette): string[] {
  const lines = [`  ${p.hunk(`@@ ${f.path} @@`)}`];
  if (redacted(o, f)) return [...lines, `  ${p.faint('~ (value hidden: Secret data)')}`];
  for (const e of withContext(lineDiff(valueLines(f.live), valueLines(f.desired)))) {
    if (e === 'elided') lines.push(`  ${p.faint('  ...')}`);
    else if (e.op === '-') lines.push(`  ${p.removed(`- ${e.line}`)}`);
    else if (e.op === '+') lines.push(`  ${p.added(`+ ${e.line}`)}`);
    else lines.push(`    ${e.line}`);
  }
  return lines;
}

function renderObject(o: ObjectDiff, p: Palette): string[] {
  const title = p.title(objectTitle(o));
  if (o.change === ChangeType.CREATE) return [`${title} ${p.added('has been added')}`];
  if (o.change === ChangeType.DELETE) return [`${title} ${p.removed('has been removed')}`];
  return [`${title} ${p.changed('has changed:')}`, ...o.fields.flatMap((f) => renderField(o, f, p))];
}

function summary(d: ReleaseDiff): string {
  const objects = changedObjects(d.response);
  const count = (c: number) => objects.filter((o) => o.change === c).length;
  const version = d.response.chartVersion ? ` (chart version ${d.response.chartVersion})` : '';
  const head = `HelmRelease ${d.namespace}/${d.name}`;
  if (!d.response.install && objects.length === 0) return `${head}: no changes${version}`;
  const what = d.response.install ? 'install' : 'upgrade';
  return `${head}: ${what}${version}: ${count(ChangeType.CREATE)} to add, ${count(ChangeType.UPDATE)} to change, ${count(ChangeType.DELETE)} to remove`;
}

/** The text of the previews, one block per HelmRelease; `colour` adds ANSI colours. */
export function renderDiffText(diffs: readonly ReleaseDiff[], colour: boolean): string {
  const p = colour ? COLOURS : PLAIN;
  const blocks = diffs.map((d) => [p.title(summary(d)), ...changedObjects(d.response).flatMap((o) => renderObject(o, p))].join('\n'));
  return `${blocks.join('\n\n')}\n`;
}

/** A field's JSON text parsed; a value that is not JSON is kept as its text. */
function parsed(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return json;
  }
}

/**
 * The previews for machines: `{changed, releases: [{namespace, name, install, chartVersion,
 * objects: [{apiVersion, kind, namespace, name, change: added|changed|removed, fields: [{path,
 * live?, desired?, redacted?}]}]}]}`. `live`/`desired` are the values (absent when not set);
 * a redacted field has neither.
 */
export function diffDocument(diffs: readonly ReleaseDiff[]): Record<string, unknown> {
  return {
    changed: hasChanges(diffs),
    releases: diffs.map((d) => ({
      namespace: d.namespace,
      name: d.name,
      install: d.response.install,
      chartVersion: d.response.chartVersion,
      objects: changedObjects(d.response).map((o) => ({
        apiVersion: o.apiVersion,
        kind: o.kind,
        namespace: o.namespace,
        name: o.name,
        change: CHANGE_WORDS.get(o.change),
        fields: o.fields.map((f) => {
          if (redacted(o, f)) return { path: f.path, redacted: true };
          const field: Record<string, unknown> = { path: f.path };
          if (f.live !== '') field['live'] = parsed(f.live);
          if (f.desired !== '') field['desired'] = parsed(f.desired);
          return field;
        }),
      })),
    })),
  };
}

/** The previews as JSON or YAML (diffDocument). */
export function renderDiffDocument(diffs: readonly ReleaseDiff[], format: 'json' | 'yaml'): string {
  return serialize(diffDocument(diffs), format);
}
