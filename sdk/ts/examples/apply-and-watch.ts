// Applies a HelmRelease through the controller's gRPC API, waits until it is Ready and prints
// its Helm history.
//
//   PLANTON_API_ADDR=127.0.0.1:9443 PLANTON_API_CA=ca.crt PLANTON_API_TOKEN=$(kubectl create token deployer) \
//     node apply-and-watch.ts --namespace demo --name podinfo \
//     --repo oci://charts.example.com/charts --chart podinfo --version 6.9.0
//
// The token is a Kubernetes ServiceAccount token (PLANTON_API_TOKEN, or --token-file) whose
// ServiceAccount may create, patch, get and watch helmreleases in the namespace. Runs with
// Node's type stripping (Node 22.18 or later), or compiled.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  ApplyRequest,
  call,
  condition,
  createClient,
  HistoryRequest,
  type HelmReleaseSpec,
  waitReady,
} from '@project-planton/helm-client';

// With PLANTON_API_ADDR at an IP address, grpc-js names the server by that address in TLS (SNI),
// which Node reports as deprecation DEP0123: noise the user can do nothing about. Other warnings
// are still printed.
process.removeAllListeners('warning');
process.on('warning', (w: Error & { code?: string }) => {
  if (w.code !== 'DEP0123') process.stderr.write(`Warning: ${w.name}: ${w.message}\n`);
});

async function main(): Promise<void> {
  const { values: flags } = parseArgs({
    options: {
      namespace: { type: 'string', default: 'default' },
      name: { type: 'string' },
      repo: { type: 'string' },
      chart: { type: 'string' },
      version: { type: 'string' },
      values: { type: 'string' },
      'token-file': { type: 'string' },
      timeout: { type: 'string', default: '300' },
    },
  });
  const { namespace, name, repo, chart, version } = flags;
  if (!name) throw new Error('--name is required');
  if (!repo) throw new Error('--repo is required');
  if (!chart) throw new Error('--chart is required');
  if (!version) throw new Error('--version is required');
  const timeoutSeconds = Number(flags.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new Error('--timeout: seconds, a positive number');
  const address = process.env.PLANTON_API_ADDR;
  if (!address) throw new Error('PLANTON_API_ADDR is not set (host:port of the API)');
  const tokenFile = flags['token-file'];
  const envToken = process.env.PLANTON_API_TOKEN;
  let token: string | (() => Promise<string>);
  if (tokenFile) token = async () => (await readFile(tokenFile, 'utf8')).trim();
  else if (envToken) token = envToken;
  else throw new Error('no token: set PLANTON_API_TOKEN or --token-file');
  const caFile = process.env.PLANTON_API_CA;
  const ca = caFile ? await readFile(caFile) : undefined;

  const spec: Partial<HelmReleaseSpec> = { repo, name: chart, version };
  if (flags.values !== undefined) {
    try {
      spec.values = JSON.parse(flags.values) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`--values: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  const client = createClient({ address, ca, token });
  const signal = AbortSignal.timeout(timeoutSeconds * 1000);
  const deadline = Date.now() + timeoutSeconds * 1000;
  try {
    const applied = await call(client, 'apply', ApplyRequest.fromPartial({ namespace, name, spec }), { deadline });
    const verb = applied.created ? 'created' : 'configured';
    console.log(`helmrelease ${namespace}/${name} ${verb} (generation ${applied.helmRelease?.generation})`);

    const ready = await waitReady(client, namespace, name, { signal });
    const release = ready.status?.release;
    console.log(
      `helmrelease ${namespace}/${name} Ready: ${condition(ready, 'Ready')?.message} ` +
        `(release ${release?.namespace}/${release?.name} revision ${release?.revision}, ` +
        `chart ${release?.chartName} ${release?.chartVersion})`,
    );

    const history = await call(client, 'history', HistoryRequest.fromPartial({ namespace, name }), { deadline });
    const rows = [['REVISION', 'CHART VERSION', 'APP VERSION', 'STATUS', 'DEPLOYED']];
    for (const r of history.revisions) {
      rows.push([String(r.revision), r.chartVersion, r.appVersion, r.status, r.deployedAt?.toISOString() ?? '']);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  } finally {
    client.close();
  }
}

main().catch((e: unknown) => {
  const message = e instanceof Error ? e.message : String(e);
  process.stderr.write(`apply-and-watch: ${message.replaceAll('\n', ' ')}\n`);
  process.exitCode = 1;
});
