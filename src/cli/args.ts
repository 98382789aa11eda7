// The command line of planton-helm: global flags (accepted before or after the command, as
// kubectl does), one set of flags per command, and the help text of each. Parsing is pure: it
// returns what to do or throws UsageError.
import { parseArgs } from 'node:util';
import { durationMs } from '../api/helm-release.js';
import { UsageError } from './errors.js';
import { OUTPUT_FORMATS, type OutputFormat } from './output.js';

/** Flags every command takes. Absent: not given (defaults come from the environment later). */
export interface GlobalOptions {
  readonly output: OutputFormat | undefined;
  readonly namespace: string | undefined;
  readonly server: string | undefined;
  readonly token: string | undefined;
  readonly caFile: string | undefined;
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
  readonly tlsServerName: string | undefined;
  /** Deadline of each call to the API. */
  readonly requestTimeoutMs: number;
}

export type Command =
  | { readonly name: 'help'; readonly topic: string | undefined }
  | { readonly name: 'apply'; readonly files: readonly string[]; readonly dryRun: boolean; readonly force: boolean; readonly fieldManager: string | undefined }
  | { readonly name: 'get'; readonly names: readonly string[]; readonly allNamespaces: boolean; readonly selector: string | undefined }
  | { readonly name: 'list'; readonly allNamespaces: boolean; readonly selector: string | undefined }
  | { readonly name: 'delete'; readonly names: readonly string[]; readonly dryRun: boolean; readonly wait: boolean; readonly timeoutMs: number }
  | { readonly name: 'history'; readonly release: string; readonly max: number }
  | { readonly name: 'reconcile'; readonly release: string; readonly reset: boolean; readonly wait: boolean; readonly timeoutMs: number }
  | { readonly name: 'suspend'; readonly release: string }
  | { readonly name: 'resume'; readonly release: string }
  | { readonly name: 'watch'; readonly release: string | undefined; readonly allNamespaces: boolean; readonly selector: string | undefined; readonly timeoutMs: number | undefined }
  | { readonly name: 'diff'; readonly files: readonly string[]; readonly release: string | undefined };

export interface Invocation {
  readonly global: GlobalOptions;
  readonly command: Command;
  /** `--help` was given: print the command's help instead of running it. */
  readonly help: boolean;
}

type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean; default?: string | boolean };
interface FlagDoc {
  readonly flag: string;
  readonly spec: OptionSpec;
  readonly usage: string;
}

const GLOBAL_FLAGS: Record<string, FlagDoc> = {
  output: { flag: '-o, --output FORMAT', spec: { type: 'string', short: 'o' }, usage: 'table, json or yaml (default table)' },
  namespace: { flag: '-n, --namespace NS', spec: { type: 'string', short: 'n' }, usage: "namespace (default: the kubeconfig context's, else default)" },
  server: { flag: '--server HOST:PORT', spec: { type: 'string' }, usage: 'address of the API (default $PLANTON_API_ADDR)' },
  token: { flag: '--token TOKEN', spec: { type: 'string' }, usage: "bearer token (default $PLANTON_API_TOKEN, else the kubeconfig context user's token)" },
  'ca-file': { flag: '--ca-file FILE', spec: { type: 'string' }, usage: "CA bundle of the API's certificate (default $PLANTON_API_CA, else the system's)" },
  kubeconfig: { flag: '--kubeconfig FILE', spec: { type: 'string' }, usage: 'kubeconfig to read the token and namespace from (default $KUBECONFIG, else ~/.kube/config)' },
  context: { flag: '--context NAME', spec: { type: 'string' }, usage: 'kubeconfig context (default its current-context)' },
  'tls-server-name': { flag: '--tls-server-name NAME', spec: { type: 'string' }, usage: "name to check the server's certificate against (default: the host of --server)" },
  'request-timeout': { flag: '--request-timeout DURATION', spec: { type: 'string', default: '60s' }, usage: 'deadline of each call (default 60s)' },
  help: { flag: '-h, --help', spec: { type: 'boolean', short: 'h' }, usage: 'show help' },
};

const ALL_NAMESPACES: FlagDoc = { flag: '-A, --all-namespaces', spec: { type: 'boolean', short: 'A' }, usage: 'every namespace you may list' };
const SELECTOR: FlagDoc = { flag: '-l, --selector SELECTOR', spec: { type: 'string', short: 'l' }, usage: 'label selector, e.g. team=payments,tier!=dev' };
const FILENAME: FlagDoc = { flag: '-f, --filename FILE', spec: { type: 'string', short: 'f', multiple: true }, usage: 'manifest file, - for stdin (repeatable)' };
const TIMEOUT = (what: string, dflt?: string): FlagDoc => ({
  flag: '--timeout DURATION',
  spec: dflt === undefined ? { type: 'string' } : { type: 'string', default: dflt },
  usage: `${what}${dflt === undefined ? '' : ` (default ${dflt})`}`,
});

interface CommandDoc {
  readonly usage: string;
  readonly summary: string;
  readonly details?: string;
  readonly flags: Record<string, FlagDoc>;
}

const COMMANDS: Record<Exclude<Command['name'], 'help'>, CommandDoc> = {
  apply: {
    usage: 'apply -f FILE [-f FILE...]',
    summary: 'Create or update HelmReleases from manifests',
    details:
      'Each document is a HelmRelease (helm.project-planton.org/v1), or a Project Planton\n' +
      'KubernetesHelmRelease (kubernetes.planton.dev/v1 or kubernetes.project-planton.org/v1),\n' +
      "converted to a HelmRelease in spec.namespace (or in -n's namespace, installing into\n" +
      'spec.namespace, when -n names another one).',
    flags: {
      filename: FILENAME,
      'dry-run': { flag: '--dry-run', spec: { type: 'boolean' }, usage: 'validate on the server, store nothing' },
      'force-conflicts': { flag: '--force-conflicts', spec: { type: 'boolean' }, usage: 'take fields owned by another field manager' },
      'field-manager': { flag: '--field-manager NAME', spec: { type: 'string' }, usage: "server-side apply field manager (default: the server's choice for your identity)" },
    },
  },
  get: {
    usage: 'get [NAME...]',
    summary: 'Show HelmReleases (all of the namespace when no NAME is given)',
    flags: { 'all-namespaces': ALL_NAMESPACES, selector: SELECTOR },
  },
  list: {
    usage: 'list',
    summary: 'List HelmReleases',
    flags: { 'all-namespaces': ALL_NAMESPACES, selector: SELECTOR },
  },
  delete: {
    usage: 'delete NAME [NAME...]',
    summary: 'Delete HelmReleases (the controller then uninstalls their releases)',
    flags: {
      'dry-run': { flag: '--dry-run', spec: { type: 'boolean' }, usage: 'validate on the server, delete nothing' },
      wait: { flag: '--wait', spec: { type: 'boolean' }, usage: 'wait until each HelmRelease is gone (its release uninstalled)' },
      timeout: TIMEOUT('how long --wait waits', '5m'),
    },
  },
  history: {
    usage: 'history NAME',
    summary: 'Show the Helm revisions of a release, oldest first',
    flags: { max: { flag: '--max N', spec: { type: 'string' }, usage: 'only the N newest revisions (default all)' } },
  },
  reconcile: {
    usage: 'reconcile NAME',
    summary: 'Ask the controller to reconcile a HelmRelease now, and wait for the result',
    details: 'Exits non-zero when the HelmRelease is not Ready after the reconcile.',
    flags: {
      reset: { flag: '--reset', spec: { type: 'boolean' }, usage: 'also reset the failure counters (retry a Stalled release)' },
      wait: { flag: '--no-wait', spec: { type: 'boolean', default: true }, usage: 'return once the request is recorded' },
      timeout: TIMEOUT('how long to wait for the reconcile', '5m'),
    },
  },
  suspend: { usage: 'suspend NAME', summary: 'Stop reconciling a HelmRelease (spec.suspend: true)', flags: {} },
  resume: { usage: 'resume NAME', summary: 'Resume reconciling a HelmRelease and request a reconcile', flags: {} },
  watch: {
    usage: 'watch [NAME]',
    summary: 'Print a line per change to HelmReleases, until interrupted',
    details:
      'Starts with the current state. Resumes from the last version seen when the stream\n' +
      'breaks, and lists again when that version is too old.',
    flags: { 'all-namespaces': ALL_NAMESPACES, selector: SELECTOR, timeout: TIMEOUT('stop after this long (default: never)') },
  },
  diff: {
    usage: 'diff (-f FILE... | NAME)',
    summary: 'Preview what applying a manifest (or reconciling NAME) would change, object by object',
    details:
      'Nothing is changed. Secret data is never shown. -o json or -o yaml for machines.\n' +
      'Exit codes: 0 no change, 1 changes, 2 error.',
    flags: { filename: FILENAME },
  },
};

const COMMAND_NAMES = Object.keys(COMMANDS) as (keyof typeof COMMANDS)[];

function specsOf(flags: Record<string, FlagDoc>): Record<string, OptionSpec> {
  return Object.fromEntries(Object.entries(flags).map(([k, v]) => [k, v.spec]));
}

function allSpecs(): Record<string, OptionSpec> {
  const specs = specsOf(GLOBAL_FLAGS);
  for (const c of COMMAND_NAMES) Object.assign(specs, specsOf(COMMANDS[c].flags));
  return specs;
}

/** Milliseconds of a `--timeout`-style flag; UsageError when it is not a duration. */
export function flagDuration(flag: string, text: string, command?: string): number {
  const ms = durationMs(text);
  if (Number.isNaN(ms)) throw new UsageError(`--${flag}: ${JSON.stringify(text)} is not a duration such as 30s, 5m or 1h`, command);
  return ms;
}

function firstPositional(argv: readonly string[]): string | undefined {
  const { tokens } = parseArgs({ args: [...argv], options: allSpecs(), strict: false, allowPositionals: true, allowNegative: true, tokens: true });
  return tokens.find((t) => t.kind === 'positional')?.value;
}

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

function str(values: Values, key: string): string | undefined {
  const v = values[key];
  return typeof v === 'string' ? v : undefined;
}

function bool(values: Values, key: string): boolean {
  return values[key] === true;
}

function globalOptions(values: Values, command?: string): GlobalOptions {
  const output = str(values, 'output');
  if (output !== undefined && !(OUTPUT_FORMATS as readonly string[]).includes(output)) {
    throw new UsageError(`--output: ${JSON.stringify(output)} is not one of ${OUTPUT_FORMATS.join(', ')}`, command);
  }
  const namespace = str(values, 'namespace');
  if (namespace === '') throw new UsageError('--namespace: must not be empty', command);
  return {
    output: output as OutputFormat | undefined,
    namespace,
    server: str(values, 'server'),
    token: str(values, 'token'),
    caFile: str(values, 'ca-file'),
    kubeconfig: str(values, 'kubeconfig'),
    context: str(values, 'context'),
    tlsServerName: str(values, 'tls-server-name'),
    requestTimeoutMs: flagDuration('request-timeout', str(values, 'request-timeout') ?? '60s', command),
  };
}

function exactlyOne(positionals: readonly string[], command: string, what = 'NAME'): string {
  const [one, ...rest] = positionals;
  if (one === undefined) throw new UsageError(`${command} needs a ${what}`, command);
  if (rest.length > 0) throw new UsageError(`${command} takes one ${what}, got ${positionals.length}: ${positionals.join(' ')}`, command);
  return one;
}

/** Parses argv (without `node` and the script). Throws UsageError. */
export function parseCommandLine(argv: readonly string[]): Invocation {
  const word = firstPositional(argv);
  if (word === undefined || word === 'help') {
    const { values, positionals } = parse(argv, GLOBAL_FLAGS, undefined);
    return { global: globalOptions(values), command: { name: 'help', topic: positionals[1] }, help: true };
  }
  if (!(COMMAND_NAMES as string[]).includes(word)) throw new UsageError(`unknown command ${JSON.stringify(word)}; commands: ${COMMAND_NAMES.join(', ')}`);
  const name = word as keyof typeof COMMANDS;
  const { values, positionals: all } = parse(argv, { ...GLOBAL_FLAGS, ...COMMANDS[name].flags }, name);
  const positionals = all.slice(all.indexOf(word) + 1);
  const global = globalOptions(values, name);
  const help = bool(values, 'help');
  return { global, command: help ? { name: 'help', topic: name } : commandOf(name, values, positionals, global), help };
}

function parse(argv: readonly string[], flags: Record<string, FlagDoc>, command: string | undefined) {
  try {
    return parseArgs({ args: [...argv], options: specsOf(flags), strict: true, allowPositionals: true, allowNegative: true });
  } catch (err) {
    // node's messages name the flag ("Unknown option '--foo'"); keep their first sentence.
    const message = (err as Error).message.split('. ')[0] ?? String(err);
    throw new UsageError(message.replace(/^Unknown option/, 'unknown flag').replace(/^Option/, 'flag'), command);
  }
}

function commandOf(name: keyof typeof COMMANDS, values: Values, positionals: readonly string[], global: GlobalOptions): Command {
  const files = (values['filename'] as string[] | undefined) ?? [];
  const noArgs = () => {
    if (positionals.length > 0) throw new UsageError(`${name} takes no arguments, got: ${positionals.join(' ')}`, name);
  };
  const allNamespaces = bool(values, 'all-namespaces');
  if (allNamespaces && global.namespace !== undefined) throw new UsageError('--all-namespaces and --namespace cannot be used together', name);
  switch (name) {
    case 'apply':
      noArgs();
      if (files.length === 0) throw new UsageError('apply needs -f FILE', name);
      return { name, files, dryRun: bool(values, 'dry-run'), force: bool(values, 'force-conflicts'), fieldManager: str(values, 'field-manager') };
    case 'get':
      if (positionals.length > 0 && (allNamespaces || str(values, 'selector') !== undefined)) {
        throw new UsageError('get NAME cannot be combined with --all-namespaces or --selector', name);
      }
      return { name, names: positionals, allNamespaces, selector: str(values, 'selector') };
    case 'list':
      noArgs();
      return { name, allNamespaces, selector: str(values, 'selector') };
    case 'delete':
      if (positionals.length === 0) throw new UsageError('delete needs a NAME', name);
      return { name, names: positionals, dryRun: bool(values, 'dry-run'), wait: bool(values, 'wait'), timeoutMs: flagDuration('timeout', str(values, 'timeout') ?? '5m', name) };
    case 'history': {
      const max = str(values, 'max');
      const n = max === undefined ? 0 : Number(max);
      if (!Number.isInteger(n) || n < 0 || (max !== undefined && n === 0)) throw new UsageError(`--max: ${JSON.stringify(max)} is not a positive integer`, name);
      return { name, release: exactlyOne(positionals, name), max: n };
    }
    case 'reconcile':
      return { name, release: exactlyOne(positionals, name), reset: bool(values, 'reset'), wait: values['wait'] !== false, timeoutMs: flagDuration('timeout', str(values, 'timeout') ?? '5m', name) };
    case 'suspend':
    case 'resume':
      return { name, release: exactlyOne(positionals, name) };
    case 'watch': {
      if (positionals.length > 0 && allNamespaces) throw new UsageError('watch NAME cannot be combined with --all-namespaces', name);
      const timeout = str(values, 'timeout');
      return {
        name,
        release: positionals.length === 0 ? undefined : exactlyOne(positionals, name),
        allNamespaces,
        selector: str(values, 'selector'),
        timeoutMs: timeout === undefined ? undefined : flagDuration('timeout', timeout, name),
      };
    }
    case 'diff':
      if (files.length > 0 && positionals.length > 0) throw new UsageError('diff takes -f FILE or NAME, not both', name);
      if (files.length === 0) return { name, files, release: exactlyOne(positionals, name, 'NAME or -f FILE') };
      return { name, files, release: undefined };
  }
}

function flagLines(flags: Record<string, FlagDoc>): string[] {
  const docs = Object.values(flags);
  const width = Math.max(...docs.map((d) => d.flag.length));
  return docs.map((d) => `  ${d.flag.padEnd(width)}   ${d.usage}`);
}

/** The help of one command, or the overview when `topic` is undefined. */
export function helpText(topic: string | undefined): string {
  const global = ['Global flags:', ...flagLines(GLOBAL_FLAGS)];
  if (topic === undefined || !(COMMAND_NAMES as string[]).includes(topic)) {
    const width = Math.max(...COMMAND_NAMES.map((c) => c.length));
    return [
      'planton-helm: manage HelmReleases through the controller\'s gRPC API.',
      '',
      'Usage: planton-helm COMMAND [flags]',
      '',
      'Commands:',
      ...COMMAND_NAMES.map((c) => `  ${c.padEnd(width)}   ${COMMANDS[c].summary}`),
      '',
      ...global,
      '',
      'Run planton-helm COMMAND --help for the flags of a command.',
      '',
    ].join('\n');
  }
  const doc = COMMANDS[topic as keyof typeof COMMANDS];
  const own = Object.keys(doc.flags).length > 0 ? ['Flags:', ...flagLines(doc.flags), ''] : [];
  return [`${doc.summary}.`, '', `Usage: planton-helm ${doc.usage} [flags]`, '', ...(doc.details ? [doc.details, ''] : []), ...own, ...global, ''].join('\n');
}
