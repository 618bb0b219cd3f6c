// The packed-install test (`npm run test:packed`, run by .ci/run): what a user
// gets from the registry, checked before anything is published. It packs every
// public workspace package, installs the tarballs into a fresh project outside
// the workspace (no `overrides`, no workspace links), and there:
//   - npm's output has no EBADENGINE and no peer-dependency warning (Node 20);
//   - every subpath export loads through import() (ESM) and require() (CJS);
//   - a strict TypeScript file (ESM) and a .cts file (CJS) using the public API
//     of core, client and server type-check against the shipped .d.ts;
//   - `ifmatch serve` serves the real web app at /, answers the README's seed
//     requests (201, 200, 304, 200, 412), and `ifmatch race` loses nothing;
//   - SIGTERM stops the server with exit 0.
// Needs built dist/ folders (`npm run build`). Prints a transcript; exit 1 on
// the first failed check. KEEP=1 keeps the temporary project.
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const started = Date.now();
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const rootPkg = readJson(join(ROOT, 'package.json'));

/** The public workspace packages, in publish order (dependencies first). */
function publicPackages() {
  const pkgs = rootPkg.workspaces
    .map((dir) => ({ dir, pkg: readJson(join(ROOT, dir, 'package.json')) }))
    .filter(({ pkg }) => !pkg.private);
  const names = new Set(pkgs.map(({ pkg }) => pkg.name));
  const ordered = [];
  const visit = (entry) => {
    if (ordered.includes(entry)) return;
    for (const dep of Object.keys(entry.pkg.dependencies ?? {})) {
      if (names.has(dep)) visit(pkgs.find(({ pkg }) => pkg.name === dep));
    }
    ordered.push(entry);
  };
  for (const entry of pkgs) visit(entry);
  return ordered;
}

class CheckFailed extends Error {}
function check(ok, message) {
  if (!ok) throw new CheckFailed(message);
  console.log(`  ok: ${message}`);
}

function indent(text) {
  const lines = text.trimEnd().split('\n');
  return lines.map((line) => `  ${line}`).join('\n');
}

/** Runs a command to completion, echoing it and (trimmed) its output. */
function run(cmd, args, { cwd, quiet = false, env } = {}) {
  console.log(
    `\n$ ${[cmd.startsWith(`${app}/`) ? cmd.slice(app.length + 1) : cmd, ...args].map(shellQuote).join(' ')}${cwd && cwd !== app ? `   (in ${cwd})` : ''}`,
  );
  const result = spawnSync(cmd, args, {
    cwd: cwd ?? app,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (!quiet && output.trim()) console.log(indent(output));
  if (result.status !== 0) {
    if (quiet) console.log(indent(output));
    throw new CheckFailed(`${cmd} ${args.join(' ')} exited ${result.status}`);
  }
  return { stdout: result.stdout, stderr: result.stderr, output };
}

const shellQuote = (arg) => (/^[\w@%+=:,./^-]+$/.test(arg) ? arg : `'${arg}'`);

/** npm warnings that mean a user's install is not clean. */
function installProblems(output) {
  return output
    .split('\n')
    .filter((line) =>
      /EBADENGINE|ERESOLVE|peer dep|peerDep|conflicting peer|overriding peer/i.test(line),
    );
}

const tmp = mkdtempSync(join(tmpdir(), 'ifmatch-packed-'));
const tarballs = join(tmp, 'tarballs');
const app = join(tmp, 'app');
mkdirSync(tarballs);
mkdirSync(app);
let server;

async function main() {
  console.log(`packed install: node ${process.version}, temporary project ${app}`);
  const packages = publicPackages();

  // 0. No stale build output: tsc -b never deletes the output of a deleted
  // source, and `files` would ship it.
  const staleFiles = packages.flatMap(({ dir }) =>
    readdirSync(join(ROOT, dir, 'dist'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.js'))
      .filter(
        (f) =>
          !['.ts', '.tsx'].some((ext) =>
            existsSync(join(ROOT, dir, 'src', f.replace(/\.js$/, ext))),
          ),
      )
      .map((f) => `${dir}/dist/${f}`),
  );
  check(
    staleFiles.length === 0,
    `no stale files in dist/${staleFiles.length ? ` (rm -rf packages/*/dist && npm run build): ${staleFiles.join(', ')}` : ''}`,
  );

  // 1. Pack, as `npm publish` would (prepack hooks included).
  const packed = run(
    'npm',
    ['pack', '--pack-destination', tarballs, ...packages.flatMap(({ dir }) => ['-w', dir])],
    { cwd: ROOT, quiet: true },
  );
  const files = readdirSync(tarballs).filter((f) => f.endsWith('.tgz'));
  console.log(indent(files.join('\n')));
  check(
    files.length === packages.length,
    `${packages.length} tarballs: ${packages.map(({ pkg }) => pkg.name).join(', ')}`,
  );
  check(!/ifmatch-web-/.test(packed.output), 'the private @ifmatch/web is not among them');
  const web = spawnSync('npm', ['pack', '--dry-run', '-w', 'packages/web'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  check(
    web.status !== 0,
    `npm pack -w packages/web refuses (exit ${web.status}): it is never packed`,
  );

  // 2. Install them like a user: the tarballs, the optional peers every adapter
  // subpath needs, TypeScript and Node's types for the type-check. No lockfile,
  // no overrides: what the registry gives today.
  const peers = new Map();
  for (const { pkg } of packages) {
    for (const [name, range] of Object.entries(pkg.peerDependencies ?? {})) {
      if (!packages.some((p) => p.pkg.name === name)) peers.set(name, range);
    }
  }
  writeFileSync(
    join(app, 'package.json'),
    `${JSON.stringify(
      {
        name: 'packed-consumer',
        version: '1.0.0',
        private: true,
        // better-sqlite3 builds its native addon at install time.
        allowScripts: { 'better-sqlite3': true },
      },
      null,
      2,
    )}\n`,
  );
  const installArgs = [
    'install',
    '--no-audit',
    '--no-fund',
    ...files.map((f) => join(tarballs, f)),
    ...[...peers].map(([name, range]) => `${name}@${range}`),
    `typescript@${rootPkg.devDependencies.typescript}`,
    `@types/node@${rootPkg.devDependencies['@types/node']}`,
  ];
  // JOBS: node-gyp compiles better-sqlite3's two translation units in parallel.
  const installed = run('npm', installArgs, { env: { JOBS: 'max' } });
  const problems = installProblems(installed.output);
  check(
    problems.length === 0,
    `no EBADENGINE or peer-dependency warning${problems.length ? `:\n${problems.join('\n')}` : ''}`,
  );
  const ls = run('npm', ['ls', '--all', '--parseable', '--long'], { quiet: true });
  const cookies = ls.stdout.split('\n').filter((l) => /[/\\]cookie:cookie@/.test(l));
  check(
    cookies.every((l) => !/cookie@2\./.test(l)),
    `no cookie@2 (Node 22 only) in the tree: ${cookies.map((l) => l.split(':')[1]).join(', ') || 'none'}`,
  );

  // 3. Every subpath export, from ESM and from CJS.
  const subpaths = [];
  for (const { pkg } of packages) {
    const exports = readJson(join(app, 'node_modules', pkg.name, 'package.json')).exports;
    for (const key of Object.keys(exports)) {
      if (key.includes('*') || key.endsWith('.json')) continue;
      subpaths.push(key === '.' ? pkg.name : `${pkg.name}/${key.slice(2)}`);
    }
  }
  const list = JSON.stringify(subpaths);
  writeFileSync(
    join(app, 'load.mjs'),
    `for (const s of ${list}) { const m = await import(s); if (Object.keys(m).length === 0) throw new Error(s + ': no exports'); console.log('import  ', s, Object.keys(m).length, 'exports'); }\n`,
  );
  writeFileSync(
    join(app, 'load.cjs'),
    `for (const s of ${list}) { const m = require(s); if (Object.keys(m).length === 0) throw new Error(s + ': no exports'); console.log('require ', s, Object.keys(m).length, 'exports'); }\n`,
  );
  const esm = run('node', ['load.mjs']);
  check(
    esm.stdout.trim().split('\n').length === subpaths.length,
    `${subpaths.length} subpaths load with import()`,
  );
  const cjs = run('node', ['load.cjs']);
  check(
    cjs.stdout.trim().split('\n').length === subpaths.length,
    `${subpaths.length} subpaths load with require()`,
  );
  check(
    !/ExperimentalWarning/.test(cjs.stderr),
    'require() of the ESM packages prints no ExperimentalWarning',
  );

  // 4. Strict TypeScript against the shipped declarations, ESM and CJS.
  writeFileSync(join(app, 'tsconfig.json'), `${JSON.stringify(TSCONFIG, null, 2)}\n`);
  writeFileSync(join(app, 'consumer.mts'), CONSUMER_ESM);
  writeFileSync(join(app, 'consumer.cts'), CONSUMER_CJS);
  run(join(app, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json']);
  check(true, 'consumer.mts (ESM) and consumer.cts (CJS) type-check strictly (skipLibCheck off)');
  run('node', ['out/consumer.mjs']);
  run('node', ['out/consumer.cjs']);
  check(
    true,
    'both run: a server, a client and a 412 as PreconditionFailedError in the user project',
  );

  // 5. The command: serve, the web app, the seed, the race.
  const bin = join(app, 'node_modules/.bin/ifmatch');
  const version = run(bin, ['--version']).stdout.trim();
  check(
    version === readJson(join(app, 'node_modules/@ifmatch/server/package.json')).version,
    `ifmatch --version prints ${version}`,
  );
  console.log(`\n$ ifmatch serve --port 0 --db ${join(tmp, 'data.db')} --log-level warn`);
  const base = await startServer(bin, [
    'serve',
    '--port',
    '0',
    '--db',
    join(tmp, 'data.db'),
    '--log-level',
    'warn',
  ]);

  const home = await request(`${base}/`);
  check(
    home.status === 200 && /text\/html/.test(home.headers.get('content-type') ?? ''),
    'GET / is 200 text/html',
  );
  check(!/not built/i.test(home.body), 'GET / is not the "web app is not built" placeholder');
  const script = /<script[^>]+src="([^"]+\.js)"/.exec(home.body)?.[1];
  check(script !== undefined, `the page loads a script (${script})`);
  const asset = await request(new URL(script, `${base}/`).href);
  check(
    asset.status === 200 && asset.body.length > 1000,
    `GET ${script} is 200, ${asset.body.length} bytes of JavaScript`,
  );

  const doc = `${base}/api/notes/hello`;
  const json = { 'content-type': 'application/json' };
  const created = await request(doc, {
    method: 'PUT',
    headers: { ...json, 'if-none-match': '*' },
    body: '{"text":"hello"}',
  });
  check(
    created.status === 201,
    `PUT If-None-Match: * -> ${created.status} etag ${created.headers.get('etag')}`,
  );
  const etag = created.headers.get('etag');
  const got = await request(doc);
  check(
    got.status === 200 && got.body === '{"text":"hello"}' && got.headers.get('etag') === etag,
    `GET -> ${got.status} ${got.body}`,
  );
  const again = await request(doc, { headers: { 'if-none-match': etag } });
  check(
    again.status === 304 && again.body === '',
    `GET If-None-Match: ${etag} -> ${again.status}, empty body`,
  );
  const edited = await request(doc, {
    method: 'PUT',
    headers: { ...json, 'if-match': etag },
    body: '{"text":"hello, edited"}',
  });
  check(
    edited.status === 200 && edited.headers.get('etag') !== etag,
    `PUT If-Match: ${etag} -> ${edited.status} etag ${edited.headers.get('etag')}`,
  );
  const stale = await request(doc, {
    method: 'PUT',
    headers: { ...json, 'if-match': etag },
    body: '{"text":"my edit"}',
  });
  check(
    stale.status === 412 && /problem\+json/.test(stale.headers.get('content-type') ?? ''),
    `PUT If-Match: ${etag} (stale) -> ${stale.status} ${stale.headers.get('content-type')}`,
  );
  const after = await request(doc);
  check(after.body === '{"text":"hello, edited"}', 'the stale PUT changed nothing');

  const raced = run(bin, ['race', '--url', base, '--clients', '4', '--updates', '20']);
  const lost = /lost updates\s+(\d+)/.exec(raced.stdout)?.[1];
  check(lost === '0', `ifmatch race --clients 4 --updates 20: ${lost} lost updates`);

  console.log('\n$ kill -TERM <ifmatch serve>');
  server.child.kill('SIGTERM');
  const code = await server.exit;
  server = undefined;
  check(code === 0, `ifmatch serve exited ${code} on SIGTERM`);
}

function startServer(bin, args) {
  const child = spawn(bin, args, { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => {
    stderr += c;
  });
  const exit = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  server = { child, exit };
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new CheckFailed(`ifmatch serve did not listen within 15 s: ${stderr}`)),
      15_000,
    );
    child.stdout.on('data', (c) => {
      out += c;
      const m = /ifmatch listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        console.log(indent(out));
        resolve(m[1]);
      }
    });
    void exit.then((code) => reject(new CheckFailed(`ifmatch serve exited ${code}: ${stderr}`)));
  });
}

async function request(url, init = {}) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2022', 'DOM'],
    types: ['node'],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    verbatimModuleSyntax: true,
    skipLibCheck: false,
    outDir: 'out',
  },
  files: ['consumer.mts', 'consumer.cts'],
};

// The public API a user writes against (ESM).
const CONSUMER_ESM = `import { bytesETag, evaluatePreconditions, parseEntityTagList, type Validators } from '@ifmatch/core';
import { IfMatchClient, PreconditionFailedError, type GetResult } from '@ifmatch/client';
import { buildApp, openStore, type AppOptions } from '@ifmatch/server';

function assert(ok: boolean, what: string): void {
  if (!ok) throw new Error(\`consumer: \${what}\`);
}

const current: Validators = { exists: true, etag: bytesETag('{"text":"hello"}') };
const outcome = evaluatePreconditions('PUT', { ifMatch: '"stale"' }, current);
const status: 'proceed' | 304 | 412 = outcome.status;
assert(status === 412, 'a stale If-Match evaluates to 412');
const list = parseEntityTagList('"a", W/"b"');
assert(list?.type === 'tags' && list.tags.length === 2, 'an entity-tag list parses');

const store = await openStore(':memory:');
const options: AppOptions = { store, strict: true };
const app = await buildApp(options);
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
const port = typeof address === 'object' && address !== null ? address.port : 0;

const client = new IfMatchClient({ baseUrl: \`http://127.0.0.1:\${port}\` });
await client.put('/api/notes/hello', { text: 'hello' }, { ifNoneMatch: '*' });
const read: GetResult<{ text: string }> = await client.get<{ text: string }>('/api/notes/hello');
const again = await client.get<{ text: string }>('/api/notes/hello');
assert(read.value.text === 'hello' && again.status === 304 && again.value === read.value, 'a 304 keeps the same object');
let conflict: unknown;
try {
  await client.put('/api/notes/hello', { text: 'mine' }, { ifMatch: '"stale"' });
} catch (error) {
  conflict = error;
}
assert(conflict instanceof PreconditionFailedError, 'a stale put throws PreconditionFailedError');
await app.close();
await store.close();
console.log('consumer.mjs: core, client and server from a user project: ok');
`;

// The same packages from a CommonJS module (require(esm) at run time).
const CONSUMER_CJS = `import core = require('@ifmatch/core');
import client = require('@ifmatch/client');
import server = require('@ifmatch/server');

const tag: string = core.bytesETag('x');
const c: InstanceType<typeof client.IfMatchClient> = new client.IfMatchClient();
const build: typeof server.buildApp = server.buildApp;
if (typeof build !== 'function' || !tag.startsWith('"') || !(c instanceof client.IfMatchClient)) {
  throw new Error('consumer.cjs: unexpected exports');
}
console.log('consumer.cjs: require() of core, client and server: ok');
export = { tag, c, build };
`;

try {
  await main();
  console.log(
    `\npacked install: all checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
} catch (error) {
  console.error(
    `\npacked install FAILED: ${error instanceof CheckFailed ? error.message : (error?.stack ?? error)}`,
  );
  process.exitCode = 1;
} finally {
  if (server) {
    server.child.kill('SIGKILL');
    await server.exit;
  }
  if (process.env.KEEP) console.log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}
