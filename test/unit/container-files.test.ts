// docker-compose.yml, the Dockerfile and package.json, read as text: nothing here can run Docker, so these checks are
// static. They prove what the files say (pinned images, directories created, no swallowed failures, server binaries
// installed for the compose cluster's major version, a supported Node), not that the images exist or build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

interface Service {
  image?: string;
  build?: unknown;
  entrypoint?: string | string[];
  command?: string | string[];
  healthcheck?: { test?: string | string[] };
  depends_on?: Record<string, { condition?: string }> | string[];
}
const compose = parse(readFileSync(root('docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };
const dockerfile = readFileSync(root('Dockerfile'), 'utf8').replace(/\\\n/g, ' ');

/** An image reference names an explicit version: a tag that starts with a digit or v<digit>, or a digest. */
function pinned(image: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const tag = /:([^/:]+)$/.exec(image)?.[1];
  return tag !== undefined && /^v?\d/.test(tag) && !/latest/.test(tag);
}

/** What a service runs, as one string: entrypoint, command and health check. */
function scripts(service: Service): string[] {
  const text = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(' ') : (value ?? ''));
  return [text(service.entrypoint), text(service.command), text(service.healthcheck?.test)].filter(Boolean);
}

/** Dockerfile ARG defaults, for FROM lines that use them. */
function dockerArgs(): Record<string, string> {
  const args: Record<string, string> = {};
  for (const match of dockerfile.matchAll(/^ARG (\w+)=("?)([^"\n]*)\2$/gm)) args[match[1]!] = match[3]!;
  return args;
}

test('recognises pinned and unpinned image references', () => {
  for (const good of ['postgres:16.14', 'versity/versitygw:v1.7.0', 'node:24.20.0-bookworm-slim', `alpine@sha256:${'a'.repeat(64)}`]) assert.ok(pinned(good), good);
  for (const bad of ['postgres', 'amazon/aws-cli:latest', 'temporalio/temporal:latest', 'node:lts-bookworm-slim', 'localhost:5000/x']) assert.ok(!pinned(bad), bad);
});

test('docker-compose.yml: every image is pinned to a version', () => {
  for (const [name, service] of Object.entries(compose.services)) {
    if (service.build !== undefined && service.image === undefined) continue; // built from this repository
    assert.ok(service.image, `service ${name} has an image or a build`);
    assert.ok(pinned(service.image), `service ${name}: image ${service.image} is not pinned to a version`);
  }
});

test('docker-compose.yml: no command, entrypoint or health check swallows a failure', () => {
  // `|| true` (and its relatives) turns every failure into success: a completion condition that waits on such a
  // command (service_completed_successfully) then means nothing.
  const swallow = /\|\|\s*(true|:|exit\s+0)\b|;\s*(true|exit\s+0)\s*$/;
  for (const [name, service] of Object.entries(compose.services)) {
    for (const script of scripts(service)) assert.doesNotMatch(script, swallow, `service ${name} swallows failures: ${script}`);
  }
  // Every job something waits to complete must exist and run a command of its own.
  for (const [name, service] of Object.entries(compose.services)) {
    const deps = Array.isArray(service.depends_on) ? {} : (service.depends_on ?? {});
    for (const [dep, { condition }] of Object.entries(deps)) {
      assert.ok(compose.services[dep], `${name} depends on a service ${dep} that exists`);
      if (condition === 'service_completed_successfully') assert.ok(scripts(compose.services[dep]!).length > 0, `${dep} runs a command that can fail`);
      if (condition === 'service_healthy') assert.ok(compose.services[dep]!.healthcheck?.test, `${dep} has a health check for ${name} to wait on`);
    }
  }
});

test('docker-compose.yml: the S3 server creates its data directories on a fresh volume before it starts', () => {
  const s3 = Object.entries(compose.services).find(([, s]) => s.image?.startsWith('versity/versitygw'));
  assert.ok(s3, 'a versitygw service');
  const script = scripts(s3[1]).join(' ');
  // versitygw's posix backend: `posix [--sidecar DIR] ROOT`; both must exist before it starts.
  const posix = /\bposix\s+(?:--sidecar\s+(\S+)\s+)?(\S+)/.exec(script);
  assert.ok(posix, `the versitygw command runs the posix backend: ${script}`);
  const dirs = [posix[1], posix[2]].filter((d): d is string => d !== undefined);
  const mkdir = /mkdir\s+-p\s+([^&;|]+)/.exec(script);
  assert.ok(mkdir && mkdir.index < posix.index, `the command creates the directories before versitygw starts: ${script}`);
  const created = mkdir[1]!.trim().split(/\s+/);
  for (const dir of dirs) assert.ok(created.includes(dir), `${dir} is created (mkdir -p ${created.join(' ')})`);
});

test('Dockerfile: every base image is pinned, and Node is a supported LTS (22 or 24)', () => {
  const args = dockerArgs();
  const stages = new Set<string>();
  for (const match of dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)) {
    const image = match[1]!.replace(/\$\{(\w+)\}/g, (_, name: string) => args[name] ?? `\${${name}}`);
    if (!stages.has(image)) assert.ok(pinned(image), `FROM ${match[1]} (${image}) is not pinned to a version`);
    if (match[2]) stages.add(match[2]);
    if (image.startsWith('node:')) assert.match(image, /^node:(22|24)\./, `${image}: Node 22 or 24`);
  }
  const engines = (JSON.parse(readFileSync(root('package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
  for (const major of ['20', '22', '24']) assert.match(engines, new RegExp(`\\^${major}\\.`), `package.json engines names Node ${major}`);
});

test('Dockerfile: the worker image carries PostgreSQL server binaries for the compose cluster (point-in-time restores)', () => {
  const postgres = Object.values(compose.services).find((s) => s.image?.startsWith('postgres:'));
  const major = /^postgres:(\d+)/.exec(postgres?.image ?? '')?.[1];
  assert.ok(major, 'the compose file runs a PostgreSQL image with a major version');
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const majors = (dockerArgs().PG_MAJORS ?? '').split(/\s+/).filter(Boolean);
  assert.ok(majors.includes(major), `PG_MAJORS (${majors.join(' ')}) includes ${major}, the compose cluster's`);
  // The server package (initdb, pg_ctl, postgres), not only postgresql-client-N, is installed for each of them.
  assert.match(finalStage, /apt-get install[^&]*\$\(for major in \$\{PG_MAJORS\}; do echo "postgresql-\$\{major\}"; done\)/, 'the final stage installs postgresql-<major> for every PG_MAJORS');
  assert.doesNotMatch(finalStage, /install[^&]*postgresql-client-\$\{?PG_MAJORS/, 'not only the client package');
  // Debian's package would make and start a cluster of its own in the image: switched off first.
  assert.match(finalStage, /create_main_cluster\) \.\*\$\/\\1 = false/, 'no default cluster is created in the image');
});

test('Dockerfile: the image carries the compiled code that runs, not the compiled tests and benchmark', () => {
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const copied = [...finalStage.matchAll(/^COPY\s+--from=build\s+\/app\/(\S+)\s+\S+$/gm)].map((m) => m[1]!.replace(/\/$/, ''));
  const fromDist = copied.filter((path) => path === 'dist' || path.startsWith('dist/'));
  assert.ok(fromDist.length > 0, `the final stage copies compiled code from the build stage: ${copied.join(', ')}`);
  assert.ok(!fromDist.includes('dist'), 'not the whole of dist/: it holds dist/test and dist/bench too');
  // npm run build compiles every folder tsconfig.json includes; all of them but test/ and bench/ run in the image.
  const include = (JSON.parse(readFileSync(root('tsconfig.json'), 'utf8')) as { include: string[] }).include;
  for (const folder of include) {
    const shipped = fromDist.some((path) => path === `dist/${folder}` || path.startsWith(`dist/${folder}/`));
    if (folder === 'test' || folder === 'bench') assert.ok(!shipped, `dist/${folder} stays in the build stage`);
    else assert.ok(shipped, `dist/${folder} is copied into the image`);
  }
  assert.ok(fromDist.includes('dist/workflows-bundle.js'), 'the workflow bundle the worker loads is copied');
  const entry = /^ENTRYPOINT\s+\[\s*"node",\s*"\/app\/([^"]+)"/m.exec(finalStage)?.[1];
  assert.ok(entry && fromDist.some((path) => entry.startsWith(`${path}/`)), `the entry point ${entry} is among what is copied`);
});

test('package.json: the test scripts name test files, which Node 20, 22 and 24 all accept', () => {
  // Node 22 and 24 read `node --test` arguments as files or globs: a bare directory runs nothing and fails.
  const scripts = (JSON.parse(readFileSync(root('package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  for (const [name, script] of Object.entries(scripts)) {
    for (const args of script.matchAll(/node --test((?:\s+[^&|;]+)?)/g)) {
      const paths = args[1]!.trim().split(/\s+/).filter((a) => !a.startsWith('-'));
      assert.ok(paths.length > 0, `${name}: node --test names its files`);
      for (const path of paths) assert.match(path, /\.js$/, `${name}: ${path} is a file pattern, not a directory`);
    }
  }
});
