// What planton-helm prints for HelmReleases and their history: kubectl-style tables, and JSON
// or YAML of the Kubernetes object (`kubectl get -o json` shape: apiVersion, kind, metadata,
// the spec in the CRD's spelling, status), so that scripts written for one read the other.
import { stringify as toYaml } from 'yaml';
import { API_VERSION, KIND } from '../api/helm-release.js';
import { specToCrd } from '../api-server/spec-convert.js';
import { HelmReleaseStatus, ReleaseHistoryEntry } from '../gen/planton/helm/v1/helm_release.js';
import { type HelmRelease, WatchEventType } from './client.js';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

type Json = Record<string, unknown>;

/** RFC 3339 in UTC, to the second when the time has no milliseconds (as Kubernetes writes it). */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.000Z$/, 'Z');
}

/** The HelmRelease as the Kubernetes object it is. */
export function helmReleaseObject(hr: HelmRelease): Json {
  const metadata: Json = { name: hr.name, namespace: hr.namespace };
  if (Object.keys(hr.labels).length > 0) metadata['labels'] = { ...hr.labels };
  if (hr.uid) metadata['uid'] = hr.uid;
  if (hr.resourceVersion) metadata['resourceVersion'] = hr.resourceVersion;
  if (hr.generation) metadata['generation'] = hr.generation;
  if (hr.creationTime) metadata['creationTimestamp'] = rfc3339(hr.creationTime);
  if (hr.deletionTime) metadata['deletionTimestamp'] = rfc3339(hr.deletionTime);
  const obj: Json = { apiVersion: API_VERSION, kind: KIND, metadata, spec: hr.spec ? specToCrd(hr.spec) : {} };
  if (hr.status) obj['status'] = HelmReleaseStatus.toJSON(hr.status);
  return obj;
}

/** JSON (two-space indented) or YAML of a value, ending with a newline. */
export function serialize(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : toYaml(value, { lineWidth: 0 });
}

/**
 * kubectl's short age: `45s`, `5m30s`, `45m`, `5h30m`, `30h`, `3d4h`, `45d`, `2y30d`. Negative
 * (clock skew) reads as `0s`.
 */
export function humanAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const d = Math.floor(h / 24);
  if (s < 120) return `${s}s`;
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (h < 3) return `${m}m`;
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (d < 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 730) return `${d}d`;
  const y = Math.floor(d / 365);
  return d % 365 === 0 ? `${y}y` : `${y}y${d % 365}d`;
}

/** Rows aligned in columns three spaces apart, as kubectl prints them. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return `${[header, ...rows].map(line).join('\n')}\n`;
}

/** The Ready condition's status, or Unknown before the controller wrote one. */
export function readyOf(hr: HelmRelease): string {
  return hr.status?.conditions.find((c) => c.type === 'Ready')?.status || 'Unknown';
}

/**
 * What the STATUS column says: Terminating while the HelmRelease is deleted, Suspended while it
 * is suspended, else the Ready condition's reason.
 */
export function statusOf(hr: HelmRelease): string {
  if (hr.deletionTime) return 'Terminating';
  if (hr.spec?.suspend) return 'Suspended';
  return hr.status?.conditions.find((c) => c.type === 'Ready')?.reason || '';
}

export const HELM_RELEASE_COLUMNS = ['NAME', 'READY', 'STATUS', 'CHART', 'VERSION', 'REVISION', 'AGE'] as const;

/** One table row of HELM_RELEASE_COLUMNS (NAMESPACE first when `allNamespaces`). */
export function helmReleaseRow(hr: HelmRelease, now: Date, allNamespaces: boolean): string[] {
  const revision = hr.status?.release?.revision;
  const row = [
    hr.name,
    readyOf(hr),
    statusOf(hr),
    hr.spec?.name ?? '',
    hr.spec?.version ?? '',
    revision ? String(revision) : '',
    hr.creationTime ? humanAge(now.getTime() - hr.creationTime.getTime()) : '',
  ];
  return allNamespaces ? [hr.namespace, ...row] : row;
}

export interface ListOptions {
  readonly allNamespaces: boolean;
  readonly now: Date;
}

/** HelmReleases as a table, one object (`get NAME`), or a kubectl `List`. */
export function formatHelmReleases(items: readonly HelmRelease[], format: OutputFormat, opts: ListOptions & { readonly single?: boolean }): string {
  if (format === 'table') {
    const header = opts.allNamespaces ? ['NAMESPACE', ...HELM_RELEASE_COLUMNS] : [...HELM_RELEASE_COLUMNS];
    return table(header, items.map((hr) => helmReleaseRow(hr, opts.now, opts.allNamespaces)));
  }
  const first = items[0];
  if (opts.single && first && items.length === 1) return serialize(helmReleaseObject(first), format);
  return serialize({ apiVersion: 'v1', kind: 'List', items: items.map(helmReleaseObject), metadata: {} }, format);
}

export const HISTORY_COLUMNS = ['REVISION', 'UPDATED', 'STATUS', 'CHART VERSION', 'APP VERSION', 'TEST', 'VALUES DIGEST'] as const;

/**
 * Revisions oldest first, as `helm history` prints them (the API returns them newest first), as
 * a table or a JSON/YAML list of entries.
 */
export function formatHistory(revisions: readonly ReleaseHistoryEntry[], format: OutputFormat): string {
  const ordered = [...revisions].sort((a, b) => a.revision - b.revision);
  if (format !== 'table') return serialize(ordered.map((r) => ReleaseHistoryEntry.toJSON(r)), format);
  return table(
    HISTORY_COLUMNS,
    ordered.map((r) => [
      String(r.revision),
      r.deployedAt ? rfc3339(r.deployedAt) : '',
      r.status,
      r.chartVersion,
      r.appVersion,
      r.testResult,
      r.valuesDigest.slice(0, 12),
    ]),
  );
}

const EVENT_NAMES = new Map<number, string>([
  [WatchEventType.ADDED, 'ADDED'],
  [WatchEventType.MODIFIED, 'MODIFIED'],
  [WatchEventType.DELETED, 'DELETED'],
]);

/** The name of a watch event type, as `kubectl get -w --output-watch-events` prints it. */
export function eventName(type: number): string {
  return EVENT_NAMES.get(type) ?? 'UNKNOWN';
}

/** Widths of the watch line's columns: events arrive one by one, so they cannot be measured. */
const WATCH_WIDTHS = [8, 16, 24, 7, 20, 8, 9, 8, 0] as const;

/** The header of `watch`'s table output. */
export function watchHeader(): string {
  return watchLine(['EVENT', 'NAMESPACE', ...HELM_RELEASE_COLUMNS]);
}

function watchLine(cells: readonly string[]): string {
  return `${cells
    .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(WATCH_WIDTHS[i] ?? 0)))
    .join('   ')
    .trimEnd()}\n`;
}

/**
 * One watch event: a table line (EVENT NAMESPACE NAME READY STATUS ...), or one JSON object per
 * line (`{"type":"MODIFIED","object":{...}}`, like `kubectl get -w -o json` with
 * `--output-watch-events`), or a YAML document.
 */
export function formatWatchEvent(type: number, hr: HelmRelease, format: OutputFormat, now: Date): string {
  if (format === 'table') return watchLine([eventName(type), ...helmReleaseRow(hr, now, true)]);
  const event = { type: eventName(type), object: helmReleaseObject(hr) };
  return format === 'json' ? `${JSON.stringify(event)}\n` : `---\n${toYaml(event, { lineWidth: 0 })}`;
}
