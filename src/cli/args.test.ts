import { describe, expect, it } from 'vitest';
import { helpText, parseCommandLine } from './args.js';
import { UsageError } from './errors.js';

describe('parseCommandLine', () => {
  it.each([
    ['global flags before the command', ['-n', 'team', '-o', 'json', 'get', 'web'], { name: 'get', names: ['web'] }, { namespace: 'team', output: 'json' }],
    ['global flags after the command', ['get', 'web', '--namespace=team', '--output', 'yaml'], { name: 'get', names: ['web'] }, { namespace: 'team', output: 'yaml' }],
    ['list -A -l', ['list', '-A', '-l', 'team=payments'], { name: 'list', allNamespaces: true, selector: 'team=payments' }, {}],
    ['apply with two files', ['apply', '-f', 'a.yaml', '--filename', 'b.yaml', '--dry-run'], { name: 'apply', files: ['a.yaml', 'b.yaml'], dryRun: true, force: false }, {}],
    ['diff -f', ['diff', '-f', 'a.yaml'], { name: 'diff', files: ['a.yaml'], release: undefined }, {}],
    ['diff NAME', ['diff', 'web'], { name: 'diff', files: [], release: 'web' }, {}],
    ['reconcile waits by default', ['reconcile', 'web', '--reset'], { name: 'reconcile', release: 'web', reset: true, wait: true, timeoutMs: 300_000 }, {}],
    ['reconcile --no-wait', ['reconcile', 'web', '--no-wait', '--timeout', '90s'], { name: 'reconcile', release: 'web', wait: false, timeoutMs: 90_000 }, {}],
    ['watch one name with a timeout', ['watch', 'web', '--timeout', '1m'], { name: 'watch', release: 'web', timeoutMs: 60_000 }, {}],
    ['watch everything', ['watch', '-A'], { name: 'watch', release: undefined, allNamespaces: true, timeoutMs: undefined }, {}],
    ['history --max', ['history', 'web', '--max', '3'], { name: 'history', release: 'web', max: 3 }, {}],
    ['delete several, waiting', ['delete', 'a', 'b', '--wait'], { name: 'delete', names: ['a', 'b'], wait: true, dryRun: false }, {}],
    [
      'connection flags',
      ['get', 'x', '--server', '10.0.0.1:8443', '--token', 't', '--ca-file', '/ca.pem', '--kubeconfig', '/kc', '--context', 'c', '--request-timeout', '5s'],
      { name: 'get' },
      { server: '10.0.0.1:8443', token: 't', caFile: '/ca.pem', kubeconfig: '/kc', context: 'c', requestTimeoutMs: 5_000 },
    ],
  ])('%s', (_name, argv, command, global) => {
    const inv = parseCommandLine(argv);
    expect(inv.command).toMatchObject(command);
    expect(inv.global).toMatchObject(global);
  });

  it('defaults: no namespace (the kubeconfig decides), table output chosen later, 60s per call', () => {
    const inv = parseCommandLine(['list']);
    expect(inv.global).toMatchObject({ namespace: undefined, output: undefined, requestTimeoutMs: 60_000 });
  });

  it.each([
    [['get', 'web', '--help'], 'get'],
    [['diff', '-h'], 'diff'],
    [['help', 'watch'], 'watch'],
    [[], undefined],
    [['--help'], undefined],
  ])('%j asks for help on %s', (argv, topic) => {
    expect(parseCommandLine(argv).command).toEqual({ name: 'help', topic });
  });

  it.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['get', '--frob'], /unknown flag '--frob'/],
    [['get', '-o', 'wide'], /--output: "wide" is not one of table, json, yaml/],
    [['apply'], /apply needs -f FILE/],
    [['apply', 'x.yaml'], /apply takes no arguments/],
    [['history'], /history needs a NAME/],
    [['suspend', 'a', 'b'], /suspend takes one NAME, got 2/],
    [['diff'], /diff needs a NAME or -f FILE/],
    [['diff', 'web', '-f', 'x.yaml'], /diff takes -f FILE or NAME, not both/],
    [['list', '-A', '-n', 'x'], /--all-namespaces and --namespace cannot be used together/],
    [['get', 'web', '-A'], /get NAME cannot be combined/],
    [['watch', '--timeout', 'soon'], /--timeout: "soon" is not a duration/],
    [['history', 'web', '--max', '0'], /--max: "0" is not a positive integer/],
    [['get', '-n'], /argument missing|flag '-n, --namespace <value>'/],
  ])('%j is a usage error', (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(UsageError);
    expect(() => parseCommandLine(argv)).toThrow(message);
  });
});

describe('helpText', () => {
  it('lists every command in the overview', () => {
    const text = helpText(undefined);
    for (const c of ['apply', 'get', 'list', 'delete', 'history', 'reconcile', 'suspend', 'resume', 'watch', 'diff']) expect(text).toMatch(new RegExp(`^  ${c} `, 'm'));
  });

  it("gives a command's own flags and the global ones", () => {
    const text = helpText('diff');
    expect(text).toContain('Usage: planton-helm diff');
    expect(text).toContain('Exit codes: 0 no change, 1 changes, 2 error.');
    expect(text).toContain('-f, --filename FILE');
    expect(text).toContain('--server HOST:PORT');
  });
});
