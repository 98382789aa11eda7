// Where planton-helm connects and as whom: the server address, the bearer token, the CA and the
// default namespace, from flags, then the environment, then the kubeconfig (read here, as
// kubectl reads it: KUBECONFIG's files merged, the first definition of a name winning).
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConnectionError } from './errors.js';

/** The environment variables planton-helm reads. */
export const ENV = {
  server: 'PLANTON_API_ADDR',
  token: 'PLANTON_API_TOKEN',
  ca: 'PLANTON_API_CA',
  kubeconfig: 'KUBECONFIG',
  noColor: 'NO_COLOR',
} as const;

export type Environment = Readonly<Record<string, string | undefined>>;

/** The connection flags as given on the command line (absent when not given). */
export interface ConnectionFlags {
  readonly server?: string | undefined;
  readonly token?: string | undefined;
  readonly caFile?: string | undefined;
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  readonly tlsServerName?: string | undefined;
}

/** What the API is reached with. */
export interface Connection {
  /** `host:port`. */
  readonly address: string;
  readonly token: string;
  /** PEM of the CA the server's certificate is checked against; undefined: the system's roots. */
  readonly ca: Buffer | undefined;
  /** Name checked against the server's certificate instead of the address's host. */
  readonly tlsServerName: string | undefined;
}

/** The parts of the current kubeconfig context planton-helm uses. */
export interface KubeContext {
  /** Name of the context; undefined when there is no kubeconfig or no current context. */
  readonly name: string | undefined;
  readonly namespace: string | undefined;
  /** The bearer token of the context's user (`token`, or the content of `tokenFile`). */
  readonly token: string | undefined;
  /** Why the user has no token, for the error when one is needed. */
  readonly noTokenReason: string | undefined;
}

const KubeUser = z.looseObject({
  token: z.string().nullish(),
  tokenFile: z.string().nullish(),
  exec: z.unknown().optional(),
  'auth-provider': z.unknown().optional(),
});

const KubeconfigFile = z.looseObject({
  'current-context': z.string().nullish(),
  contexts: z.array(z.looseObject({ name: z.string(), context: z.looseObject({ user: z.string().nullish(), namespace: z.string().nullish() }).nullish() })).nullish(),
  users: z.array(z.looseObject({ name: z.string(), user: KubeUser.nullish() })).nullish(),
});
type KubeconfigFile = z.infer<typeof KubeconfigFile>;
type KubeUser = z.infer<typeof KubeUser>;

/**
 * The kubeconfig files to read: `--kubeconfig`, else KUBECONFIG's list, else ~/.kube/config.
 * `explicit` is true when the user named them (a missing file is then an error).
 */
export function kubeconfigPaths(flag: string | undefined, env: Environment): { paths: string[]; explicit: boolean } {
  if (flag) return { paths: [flag], explicit: true };
  const list = (env[ENV.kubeconfig] ?? '').split(delimiter).filter((p) => p !== '');
  if (list.length > 0) return { paths: list, explicit: true };
  return { paths: [resolve(env['HOME'] ?? homedir(), '.kube', 'config')], explicit: false };
}

interface LoadedFile {
  readonly path: string;
  readonly config: KubeconfigFile;
}

function loadFiles(paths: readonly string[], explicit: boolean): LoadedFile[] {
  const loaded: LoadedFile[] = [];
  for (const path of paths) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      // kubectl skips missing files of a KUBECONFIG list; a file named by --kubeconfig must exist.
      if (explicit && paths.length === 1) throw new ConnectionError(`cannot read kubeconfig ${path}: ${(err as Error).message}`);
      continue;
    }
    let raw: unknown;
    try {
      raw = parseYaml(text);
    } catch (err) {
      throw new ConnectionError(`kubeconfig ${path} is not YAML: ${(err as Error).message}`);
    }
    const parsed = KubeconfigFile.safeParse(raw ?? {});
    if (!parsed.success) throw new ConnectionError(`kubeconfig ${path} is not a kubeconfig: ${parsed.error.issues[0]?.message ?? 'bad shape'}`);
    loaded.push({ path, config: parsed.data });
  }
  return loaded;
}

/** The first entry named `name` across the files, with the file it came from. */
function findNamed<T extends { name: string }>(files: readonly LoadedFile[], list: (c: KubeconfigFile) => readonly T[] | null | undefined, name: string) {
  for (const f of files) {
    const entry = list(f.config)?.find((e) => e.name === name);
    if (entry) return { file: f, entry };
  }
  return undefined;
}

function userToken(user: KubeUser | undefined, file: LoadedFile, userName: string): { token?: string; reason?: string } {
  if (user?.token) return { token: user.token };
  if (user?.tokenFile) {
    const path = isAbsolute(user.tokenFile) ? user.tokenFile : resolve(dirname(file.path), user.tokenFile);
    try {
      return { token: readFileSync(path, 'utf8').trim() };
    } catch (err) {
      throw new ConnectionError(`cannot read the tokenFile of kubeconfig user ${userName}: ${(err as Error).message}`);
    }
  }
  if (user?.exec !== undefined || user?.['auth-provider'] !== undefined) {
    return { reason: `kubeconfig user ${userName} gets its token from a plugin, which planton-helm does not run` };
  }
  return { reason: `kubeconfig user ${userName} has no token (client certificates cannot be sent to the API)` };
}

/** Reads the context the user selected (`--context`, else current-context) from the kubeconfig. */
export function readKubeContext(flags: Pick<ConnectionFlags, 'kubeconfig' | 'context'>, env: Environment): KubeContext {
  const { paths, explicit } = kubeconfigPaths(flags.kubeconfig, env);
  const files = loadFiles(paths, explicit);
  const name = flags.context ?? files.map((f) => f.config['current-context']).find((c) => c) ?? undefined;
  if (!name) return { name: undefined, namespace: undefined, token: undefined, noTokenReason: files.length === 0 ? 'no kubeconfig' : 'the kubeconfig has no current context' };
  const ctx = findNamed(files, (c) => c.contexts, name);
  if (!ctx) {
    if (flags.context) throw new ConnectionError(`context ${name} is not in the kubeconfig`);
    return { name, namespace: undefined, token: undefined, noTokenReason: `the kubeconfig's current context ${name} is not defined` };
  }
  const namespace = ctx.entry.context?.namespace ?? undefined;
  const userName = ctx.entry.context?.user ?? undefined;
  if (!userName) return { name, namespace, token: undefined, noTokenReason: `kubeconfig context ${name} names no user` };
  const user = findNamed(files, (c) => c.users, userName);
  if (!user) return { name, namespace, token: undefined, noTokenReason: `kubeconfig user ${userName} is not defined` };
  const { token, reason } = userToken(user.entry.user ?? undefined, user.file, userName);
  return { name, namespace, token, noTokenReason: reason };
}

/** The namespace commands act in: `-n`, else the kubeconfig context's, else `default`. */
export function defaultNamespace(ctx: KubeContext): string {
  return ctx.namespace || 'default';
}

/**
 * Resolves the address, token and CA. Throws ConnectionError naming what is missing and how to
 * give it.
 */
export function resolveConnection(flags: ConnectionFlags, env: Environment, ctx: () => KubeContext): Connection {
  const address = flags.server ?? env[ENV.server];
  if (!address) throw new ConnectionError(`no API server: pass --server HOST:PORT or set ${ENV.server}`);
  if (/^[a-z]+:\/\//i.test(address)) throw new ConnectionError(`--server takes HOST:PORT, not a URL: ${address}`);
  let token = flags.token ?? env[ENV.token];
  if (!token) {
    const kube = ctx();
    token = kube.token;
    if (!token) throw new ConnectionError(`no token: pass --token, set ${ENV.token}, or use a kubeconfig context whose user has a token (${kube.noTokenReason ?? 'none found'})`);
  }
  const caFile = flags.caFile ?? env[ENV.ca];
  let ca: Buffer | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile);
    } catch (err) {
      throw new ConnectionError(`cannot read the CA file ${caFile}: ${(err as Error).message}`);
    }
  }
  return { address, token, ca, tlsServerName: flags.tlsServerName };
}
