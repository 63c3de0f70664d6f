// A local stand-in for Neon's v2 API (the calls pgwarden makes, with their documented shapes and status codes)
// whose branches are real: the project's default branch is a PostgreSQL cluster that archives its WAL, and every
// branch is its base backup recovered from that archive to the branch point into a cluster of its own. A branch
// therefore holds the parent's data exactly as of its LSN or time, and none of the parent's later writes.
// As strict as Neon: unknown fields and query parameters are refused (400), a duplicate branch name is 409,
// expires_at more than 30 days ahead is 400, a project has a limit of read-only computes (the Free plan's 3), and
// its history begins when it was made (and reaches back no further than the plan allows). Tests can make it answer
// slowly, or do the work and lose the answer (held past the client's timeout).
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { clusterUser, freePort, LocalCluster } from '../../activities/postgres/cluster.js';
import { initAndStart } from './pg-template.js';

const SUPERUSER = 'cloud_admin'; // Neon's own superuser; users get neondb_owner, a member of neon_superuser

export interface FakeNeonRequest {
  method: string;
  path: string;
  status: number;
  at: number;
  /** The JSON body of a POST. */
  body?: unknown;
}

/** A failure the server answers instead of doing the work, for the next `times` matching requests. */
export interface Injection {
  method?: string;
  path: RegExp;
  status: number;
  times: number;
  /** Let this many matching requests through first. */
  skip?: number;
  retryAfterSeconds?: number;
  /** Instead of failing: answer normally but hand out a connection URI with a wrong password. */
  wrongPassword?: boolean;
  /** Instead of failing: hold the request this long before answering. */
  delayMs?: number;
  /** Called when a request matches (before the delay). */
  onHit?: () => void;
  /** Instead of failing: do the work, then hold the answer this long (longer than the client waits: a lost reply). */
  answerAfterMs?: number;
}

/** The history windows of Neon's plans (neon.com/docs/introduction/restore-window): the setting is capped by them. */
const PLAN_MAX_SECONDS: Record<string, number> = { free_v3: 6 * 3_600, launch: 7 * 86_400, scale: 30 * 86_400 };

/** Fields Neon's API takes (public-v2-for-users.gen.yaml); anything else is refused. */
const BRANCH_CREATE_FIELDS = new Set(['branch', 'endpoints', 'annotation_value']);
const BRANCH_FIELDS = new Set(['parent_id', 'name', 'parent_lsn', 'parent_timestamp', 'protected', 'archived', 'init_source', 'expires_at']);
const ENDPOINT_FIELDS = new Set(['type', 'autoscaling_limit_min_cu', 'autoscaling_limit_max_cu', 'provisioner', 'suspend_timeout_seconds']);
const QUERY_PARAMETERS: Array<[RegExp, Set<string>]> = [
  [/^\/projects\/[^/]+\/branches$/, new Set(['search', 'sort_by', 'sort_order', 'limit', 'cursor'])],
  [/^\/projects\/[^/]+\/operations$/, new Set(['limit', 'cursor'])],
  [/^\/projects\/[^/]+\/connection_uri$/, new Set(['branch_id', 'endpoint_id', 'database_name', 'role_name', 'pooled'])],
];

interface Endpoint {
  id: string;
  type: 'read_only' | 'read_write';
  port: number;
  cluster?: LocalCluster;
  state: 'init' | 'active' | 'idle';
}

interface BranchRecord {
  id: string;
  name: string;
  parent_id?: string;
  parent_lsn?: string;
  parent_timestamp?: string;
  created_at: string;
  updated_at: string;
  expires_at?: string;
  default: boolean;
  current_state: 'init' | 'ready';
  annotations: Record<string, string>;
  endpoints: Endpoint[];
  dataDir?: string;
  deleted: boolean;
  busy: boolean; // an operation on it is running
}

interface OperationRecord {
  id: string;
  project_id: string;
  branch_id: string;
  endpoint_id?: string;
  action: string;
  status: 'scheduling' | 'running' | 'finished' | 'failed';
  error?: string;
  failures_count: number;
  created_at: string;
  updated_at: string;
  total_duration_ms: number;
}

export interface FakeNeon {
  /** Base URL for neon.apiUrl. */
  url: string;
  apiKey: string;
  projectId: string;
  database: string;
  role: string;
  /** The default branch's connection, as neondb_owner (what the application writes through). */
  parentUrl: string;
  historyRetentionSeconds: number;
  /** When the project was made (whole seconds): branches can be made at times from then on. */
  createdAt: string;
  requests: FakeNeonRequest[];
  inject(injection: Injection): void;
  /** Resolves once a request matching `path` (and `method`) has been received. */
  waitForRequest(path: RegExp, method?: string): Promise<FakeNeonRequest>;
  /** Branches that exist now (not deleted), default branch included. */
  liveBranches(): Array<{ id: string; name: string; annotations: Record<string, string>; expires_at?: string; parent_lsn?: string; parent_timestamp?: string }>;
  /** A superuser connection to a live branch's cluster, for checks. */
  branchUrl(branchId: string, database?: string): string;
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<T>>;
  stop(): Promise<void>;
}

export async function startFakeNeon(options: { historyRetentionSeconds?: number; plan?: string; maxReadOnlyComputes?: number } = {}): Promise<FakeNeon> {
  const user = await clusterUser(process.env.PGWARDEN_CLUSTER_USER ?? 'pgwarden');
  const root = mkdtempSync(join(tmpdir(), 'pgwarden-test-neon-'));
  chmodSync(root, 0o755);
  const archive = join(root, 'archive');
  mkdirSync(archive);
  const adminPassword = randomBytes(12).toString('hex');
  const ownerPassword = randomBytes(12).toString('hex');
  const projectId = 'fake-neon-project-000001';
  const database = 'neondb';
  const role = 'neondb_owner';
  const apiKey = `neon-test-${randomBytes(16).toString('hex')}`;
  const historyRetentionSeconds = options.historyRetentionSeconds ?? 6 * 3_600;
  const plan = options.plan ?? 'free_v3';
  const maxReadOnlyComputes = options.maxReadOnlyComputes ?? 3; // the Free plan's limit per project

  const parent = new LocalCluster({ dataDir: join(root, 'main'), binDir: serverBinDir(), port: await freePort(), ...(user ? { user } : {}) });
  if (user) parent.own(root);
  await initAndStart(parent, SUPERUSER, adminPassword, [
    'wal_level = replica',
    'archive_mode = on',
    `archive_command = 'test ! -f ${archive}/%f && cp %p ${archive}/%f'`,
    'max_wal_senders = 4',
  ]);
  const admin = (db: string) => parent.url(SUPERUSER, adminPassword, db);
  await sql(admin('postgres'), [
    'CREATE ROLE neon_superuser NOLOGIN CREATEDB CREATEROLE IN ROLE pg_read_all_data, pg_write_all_data, pg_monitor',
    `CREATE ROLE ${role} LOGIN CREATEDB CREATEROLE PASSWORD '${ownerPassword}' IN ROLE neon_superuser`,
    `CREATE DATABASE ${database} OWNER ${role}`,
    'CREATE DATABASE fake_neon_internal',
  ]);
  await sql(admin('fake_neon_internal'), ['CREATE TABLE tick (at timestamptz NOT NULL DEFAULT clock_timestamp())']);
  // The project's history starts here: branches are this base backup plus archived WAL.
  const base = join(root, 'base');
  await parent.run('pg_basebackup', ['-h', '127.0.0.1', '-p', String(parent.port), '-U', SUPERUSER, '-D', base, '-X', 'stream', '-c', 'fast', '--no-password'], { env: { PGPASSWORD: adminPassword } });
  // The project is "made" once its history can be branched from: the next whole second (timestamps have seconds).
  const createdAt = new Date(Math.ceil(Date.now() / 1_000) * 1_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const historyStart = Date.parse(createdAt);
  await new Promise((r) => setTimeout(r, Math.max(0, historyStart - Date.now())));

  const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const main: BranchRecord = {
    id: 'br-main-000001',
    name: 'main',
    created_at: createdAt,
    updated_at: createdAt,
    default: true,
    current_state: 'ready',
    annotations: {},
    endpoints: [{ id: 'ep-main-000001', type: 'read_write', port: parent.port, cluster: parent, state: 'active' }],
    deleted: false,
    busy: false,
  };
  const branches = new Map<string, BranchRecord>([[main.id, main]]);
  const operations = new Map<string, OperationRecord>();
  const requests: FakeNeonRequest[] = [];
  const injections: Injection[] = [];
  const waiters: Array<{ path: RegExp; method?: string; resolve: (r: FakeNeonRequest) => void }> = [];
  const work: Array<Promise<unknown>> = [];
  const bodies = new WeakMap<IncomingMessage, unknown>();

  const operation = (branch: BranchRecord, action: string, endpoint?: Endpoint): OperationRecord => {
    const op: OperationRecord = {
      id: randomUUID(),
      project_id: projectId,
      branch_id: branch.id,
      ...(endpoint ? { endpoint_id: endpoint.id } : {}),
      action,
      status: 'running',
      failures_count: 0,
      created_at: now(),
      updated_at: now(),
      total_duration_ms: 0,
    };
    operations.set(op.id, op);
    return op;
  };
  const finish = (ops: OperationRecord[], error?: string) => {
    for (const op of ops) {
      op.status = error ? 'failed' : 'finished';
      if (error) op.error = error;
      op.updated_at = now();
      op.total_duration_ms = Date.now() - Date.parse(op.created_at);
    }
  };

  /** Recovers the base backup to the branch point into a new cluster and starts it (the slow part: it runs after 201). */
  async function materialize(branch: BranchRecord, target: { lsn?: string; timestamp?: string }) {
    // A commit after any time target, so that recovery can stop at it; then the WAL up to here is archived.
    await sql(admin('fake_neon_internal'), ['INSERT INTO tick DEFAULT VALUES']);
    let stopLsn = target.lsn;
    if (!stopLsn && !target.timestamp) {
      stopLsn = (await sql<{ lsn: string }>(admin('postgres'), ['SELECT pg_current_wal_lsn()::text AS lsn'])).rows[0]!.lsn;
      await sql(admin('fake_neon_internal'), ['INSERT INTO tick DEFAULT VALUES']);
    }
    const switched = (await sql<{ f: string }>(admin('postgres'), ['SELECT pg_walfile_name(pg_switch_wal()) AS f'])).rows[0]!.f;
    for (let i = 0; ; i += 1) {
      const { rows } = await sql<{ w: string | null }>(admin('postgres'), ['SELECT last_archived_wal AS w FROM pg_stat_archiver']);
      if (rows[0]!.w && rows[0]!.w >= switched) break;
      if (i > 600) throw new Error(`WAL ${switched} was not archived`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const dataDir = join(root, branch.id);
    await execa('cp', ['-a', base, dataDir]);
    const endpoint = branch.endpoints[0]!;
    const cluster = new LocalCluster({ dataDir, binDir: serverBinDir(), port: endpoint.port, logFile: join(dataDir, 'branch-server.log'), ...(user ? { user } : {}) });
    cluster.configure([
      `port = ${endpoint.port}`,
      `unix_socket_directories = '${dataDir}'`,
      'archive_mode = off',
      `restore_command = 'cp ${archive}/%f %p'`,
      // PostgreSQL's own spelling of the instant (it refuses ISO 8601's "T…Z" here).
      target.timestamp ? `recovery_target_time = '${new Date(Date.parse(target.timestamp)).toISOString().replace('T', ' ').replace('Z', '+00')}'` : `recovery_target_lsn = '${stopLsn}'`,
      `recovery_target_inclusive = ${target.timestamp ? 'on' : 'off'}`,
      "recovery_target_action = 'promote'",
      ...(endpoint.type === 'read_only' ? ['default_transaction_read_only = on'] : []),
    ]);
    writeFileSync(join(dataDir, 'recovery.signal'), '');
    cluster.own(dataDir);
    branch.dataDir = dataDir;
    await cluster.start(120);
    const url = cluster.url(SUPERUSER, adminPassword, 'postgres');
    for (let i = 0; ; i += 1) {
      const { rows } = await sql<{ r: boolean; lsn: string }>(url, ['SELECT pg_is_in_recovery() AS r, pg_last_wal_replay_lsn()::text AS lsn']);
      if (!rows[0]!.r) {
        branch.parent_lsn = target.lsn ?? rows[0]!.lsn;
        break;
      }
      if (i > 1200) throw new Error('branch did not finish recovery');
      await new Promise((r) => setTimeout(r, 50));
    }
    endpoint.cluster = cluster;
    endpoint.state = 'active';
    branch.current_state = 'ready';
  }

  const projectJson = () => ({
    id: projectId,
    platform_id: 'aws',
    region_id: 'aws-eu-central-1',
    name: 'pgwarden-fake',
    provisioner: 'k8s-neonvm',
    pg_version: 15,
    proxy_host: '127.0.0.1',
    branch_logical_size_limit: 0,
    branch_logical_size_limit_bytes: 0,
    store_passwords: true,
    active_time_seconds: 0,
    compute_time_seconds: 0,
    written_data_bytes: 0,
    data_transfer_bytes: 0,
    data_storage_bytes_hour: 0,
    cpu_used_sec: 0,
    creation_source: 'console',
    history_retention_seconds: historyRetentionSeconds,
    created_at: createdAt,
    updated_at: createdAt,
    consumption_period_start: createdAt,
    consumption_period_end: createdAt,
    owner_id: 'owner-1',
    owner: { email: 'owner@example.com', name: 'Owner', branches_limit: 10, subscription_type: plan },
  });
  /** The earliest moment Neon branches at now: the project's creation, or the history its plan keeps. */
  const historyFrom = () => Math.max(historyStart, Date.now() - Math.min(historyRetentionSeconds, PLAN_MAX_SECONDS[plan] ?? Infinity) * 1_000);
  /** What a request may not carry: an unknown field of a branch creation, or an unknown query parameter. */
  const unknownField = (path: string, query: URLSearchParams, method: string, body: unknown): string | undefined => {
    for (const [route, allowed] of QUERY_PARAMETERS) {
      if (method === 'GET' && route.test(path)) for (const key of query.keys()) if (!allowed.has(key)) return `query parameter ${key}`;
    }
    if (method !== 'POST' || !/^\/projects\/[^/]+\/branches$/.test(path)) return undefined;
    const b = body as { branch?: Record<string, unknown>; endpoints?: Array<Record<string, unknown>> };
    for (const key of Object.keys(b)) if (!BRANCH_CREATE_FIELDS.has(key)) return key;
    for (const key of Object.keys(b.branch ?? {})) if (!BRANCH_FIELDS.has(key)) return `branch.${key}`;
    for (const e of b.endpoints ?? []) for (const key of Object.keys(e)) if (!ENDPOINT_FIELDS.has(key)) return `endpoints[].${key}`;
    return undefined;
  };
  const branchJson = (b: BranchRecord) => ({
    id: b.id,
    project_id: projectId,
    ...(b.parent_id ? { parent_id: b.parent_id } : {}),
    ...(b.parent_lsn ? { parent_lsn: b.parent_lsn } : {}),
    ...(b.parent_timestamp ? { parent_timestamp: b.parent_timestamp } : {}),
    name: b.name,
    current_state: b.current_state,
    state_changed_at: b.updated_at,
    creation_source: 'console',
    default: b.default,
    protected: false,
    cpu_used_sec: 0,
    active_time_seconds: 0,
    compute_time_seconds: 0,
    written_data_bytes: 0,
    data_transfer_bytes: 0,
    created_at: b.created_at,
    updated_at: b.updated_at,
    ...(b.expires_at ? { expires_at: b.expires_at } : {}),
    init_source: 'parent-data',
  });
  const endpointJson = (b: BranchRecord, e: Endpoint) => ({
    host: '127.0.0.1',
    id: e.id,
    project_id: projectId,
    branch_id: b.id,
    region_id: 'aws-eu-central-1',
    autoscaling_limit_min_cu: 0.25,
    autoscaling_limit_max_cu: 0.25,
    type: e.type,
    current_state: e.state,
    pooler_enabled: false,
    pooler_mode: 'transaction',
    disabled: false,
    passwordless_access: false,
    creation_source: 'console',
    created_at: b.created_at,
    updated_at: b.updated_at,
    proxy_host: '127.0.0.1',
    suspend_timeout_seconds: 0,
    provisioner: 'k8s-neonvm',
  });
  const opJson = (op: OperationRecord) => ({ ...op });
  const annotationJson = (b: BranchRecord) => ({ object: { type: 'console/branch', id: b.id }, value: b.annotations, created_at: b.created_at, updated_at: b.updated_at });
  const error = (res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': randomUUID(), ...headers });
    res.end(JSON.stringify({ code: '', message, request_id: randomUUID() }));
    return status;
  };
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
    return status;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const path = url.pathname.replace(/^\/api\/v2/, '');
    if (req.headers.authorization !== `Bearer ${apiKey}`) return error(res, 401, 'authorization failed');
    let wrongPassword = false;
    let answerAfterMs = 0;
    for (const injection of injections) {
      if (injection.times <= 0 || !injection.path.test(path) || (injection.method && injection.method !== method)) continue;
      if ((injection.skip ?? 0) > 0) {
        injection.skip! -= 1;
        continue;
      }
      injection.times -= 1;
      injection.onHit?.();
      if (injection.delayMs) await new Promise((r) => setTimeout(r, injection.delayMs));
      if (injection.wrongPassword) wrongPassword = true;
      else if (injection.answerAfterMs) answerAfterMs = injection.answerAfterMs;
      else if (!injection.delayMs) {
        const headers: Record<string, string> = injection.retryAfterSeconds !== undefined ? { 'retry-after': String(injection.retryAfterSeconds) } : {};
        const message = injection.status === 423 ? 'project already has running conflicting operations, scheduling of new ones is prohibited' : injection.status === 429 ? 'too many requests' : 'internal server error';
        return error(res, injection.status, message, headers);
      }
      break;
    }
    const body = method === 'POST' || method === 'PATCH' ? await readJson(req) : {};
    if (method === 'POST') bodies.set(req, body);
    if (answerAfterMs) {
      // The work is done now; the answer leaves later (the client has given up on it by then).
      const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
      res.end = ((...args: unknown[]) => {
        setTimeout(() => end(...args), answerAfterMs);
        return res;
      }) as typeof res.end;
    }
    const unknown = unknownField(path, url.searchParams, method, body);
    if (unknown) return error(res, 400, `request contains unknown field: ${unknown}`);
    const parts = path.split('/').filter(Boolean); // projects, <id>, …
    if (parts[0] !== 'projects' || parts[1] !== projectId) return error(res, 404, `project ${parts[1] ?? ''} not found`);
    const rest = parts.slice(2);
    const live = (id: string | undefined) => {
      const b = id ? branches.get(id) : undefined;
      return b && !b.deleted ? b : undefined;
    };

    if (rest.length === 0 && method === 'GET') return json(res, 200, { project: projectJson() });
    if (rest[0] === 'operations' && rest.length === 1 && method === 'GET') {
      const all = [...operations.values()].sort((a, b) => b.created_at.localeCompare(a.created_at));
      const limit = Number(url.searchParams.get('limit') ?? 10);
      if (!(limit >= 1 && limit <= 1000)) return error(res, 400, 'limit must be from 1 to 1000');
      return json(res, 200, { operations: all.slice(0, limit).map(opJson), pagination: {} });
    }
    if (rest[0] === 'operations' && rest[1] && method === 'GET') {
      const op = operations.get(rest[1]);
      return op ? json(res, 200, { operation: opJson(op) }) : error(res, 404, 'operation not found');
    }
    if (rest[0] === 'connection_uri' && method === 'GET') {
      const branch = live(url.searchParams.get('branch_id') ?? main.id);
      if (!branch) return error(res, 404, 'branch not found');
      if (url.searchParams.get('role_name') !== role) return error(res, 404, `role ${url.searchParams.get('role_name')} not found`);
      const endpointId = url.searchParams.get('endpoint_id');
      const endpoint = endpointId ? branch.endpoints.find((e) => e.id === endpointId) : branch.endpoints.find((e) => e.type === 'read_write');
      if (!endpoint) return error(res, 404, 'endpoint not found');
      const password = wrongPassword ? 'not-the-password' : ownerPassword;
      return json(res, 200, { uri: `postgresql://${role}:${password}@127.0.0.1:${endpoint.port}/${url.searchParams.get('database_name') ?? database}` });
    }
    if (rest[0] === 'branches' && rest.length === 1 && method === 'GET') {
      const search = url.searchParams.get('search') ?? '';
      const order = url.searchParams.get('sort_order') === 'asc' ? 1 : -1;
      const all = [...branches.values()].filter((b) => !b.deleted && (b.name.includes(search) || b.id.includes(search))).sort((a, b) => order * a.created_at.localeCompare(b.created_at) || order * a.id.localeCompare(b.id));
      const limit = Number(url.searchParams.get('limit') ?? 10_000);
      const offset = Number(Buffer.from(url.searchParams.get('cursor') ?? 'MA==', 'base64').toString('utf8')) || 0;
      const page = all.slice(offset, offset + limit);
      const next = offset + limit < all.length ? Buffer.from(String(offset + limit)).toString('base64') : undefined;
      const annotations = Object.fromEntries(page.filter((b) => Object.keys(b.annotations).length).map((b) => [b.id, annotationJson(b)]));
      return json(res, 200, { branches: page.map(branchJson), annotations, pagination: { ...(next ? { next } : {}), sort_by: 'created_at', sort_order: order === 1 ? 'asc' : 'desc' } });
    }
    if (rest[0] === 'branches' && rest.length === 1 && method === 'POST') {
      const request = body as { branch?: { parent_id?: string; name?: string; parent_lsn?: string; parent_timestamp?: string; expires_at?: string }; endpoints?: Array<{ type: 'read_only' | 'read_write' }>; annotation_value?: Record<string, string> };
      const parentId = request.branch?.parent_id ?? main.id;
      if (!live(parentId)) return error(res, 404, `branch ${parentId} not found`);
      if (parentId !== main.id) return error(res, 400, 'this stand-in branches from the default branch only');
      const name = request.branch?.name ?? `br-${randomBytes(4).toString('hex')}`;
      if ([...branches.values()].some((b) => !b.deleted && b.name === name)) return error(res, 409, `branch with name "${name}" already exists`);
      const ts = request.branch?.parent_timestamp;
      if (ts !== undefined) {
        const at = Date.parse(ts);
        if (Number.isNaN(at)) return error(res, 400, 'parent_timestamp must be a date-time');
        if (at > Date.now()) return error(res, 400, 'parent_timestamp is in the future');
        if (at < historyFrom()) return error(res, 400, 'parent_timestamp is outside the history retention period');
      }
      const expires = request.branch?.expires_at;
      if (expires !== undefined) {
        if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$/.test(expires)) return error(res, 400, 'expires_at must be RFC 3339 with precision up to seconds');
        if (Date.parse(expires) <= Date.now()) return error(res, 400, 'expires_at must be in the future');
        if (Date.parse(expires) > Date.now() + 30 * 86_400_000) return error(res, 400, 'expires_at must not be more than 30 days in the future');
      }
      const readOnly = [...branches.values()].filter((b) => !b.deleted).flatMap((b) => b.endpoints).filter((e) => e.type === 'read_only').length;
      if (readOnly + (request.endpoints ?? []).filter((e) => e.type === 'read_only').length > maxReadOnlyComputes) {
        return error(res, 422, `read-only compute endpoints limit exceeded: the project has ${readOnly} of ${maxReadOnlyComputes}`);
      }
      // A valid request meets the project's lock only now (validation answers first).
      if ([...operations.values()].some((op) => op.status === 'running' && (op.action === 'create_branch' || op.action === 'delete_timeline'))) {
        return error(res, 423, 'project already has running conflicting operations, scheduling of new ones is prohibited');
      }
      const id = `br-${randomBytes(5).toString('hex')}`;
      const endpoints: Endpoint[] = [];
      for (const e of request.endpoints ?? []) endpoints.push({ id: `ep-${randomBytes(5).toString('hex')}`, type: e.type, port: await freePort(), state: 'init' });
      if (endpoints.length === 0) return error(res, 400, 'this stand-in needs an endpoint on every branch');
      const branch: BranchRecord = {
        id,
        name,
        parent_id: parentId,
        ...(ts ? { parent_timestamp: new Date(Date.parse(ts)).toISOString().replace(/\.\d+Z$/, 'Z') } : {}),
        created_at: now(),
        updated_at: now(),
        ...(request.branch?.expires_at ? { expires_at: request.branch.expires_at } : {}),
        default: false,
        current_state: 'init',
        annotations: request.annotation_value ?? {},
        endpoints,
        deleted: false,
        busy: true,
      };
      branches.set(id, branch);
      const ops = [operation(branch, 'create_branch'), ...endpoints.map((e) => operation(branch, 'start_compute', e))];
      const made = materialize(branch, { ...(request.branch?.parent_lsn ? { lsn: request.branch.parent_lsn } : {}), ...(ts ? { timestamp: ts } : {}) }).then(
        () => finish(ops),
        (e: Error) => finish(ops, e.message),
      ).finally(() => (branch.busy = false));
      work.push(made);
      return json(res, 201, {
        branch: branchJson(branch),
        endpoints: endpoints.map((e) => endpointJson(branch, e)),
        operations: ops.map(opJson),
        roles: [{ branch_id: id, name: role, protected: false, created_at: branch.created_at, updated_at: branch.updated_at }],
        databases: [{ id: 1, branch_id: id, name: database, owner_name: role, created_at: branch.created_at, updated_at: branch.updated_at }],
      });
    }
    if (rest[0] === 'branches' && rest[1]) {
      const branch = live(rest[1]);
      if (rest[2] === 'endpoints' && method === 'GET') {
        return branch ? json(res, 200, { endpoints: branch.endpoints.map((e) => endpointJson(branch, e)) }) : error(res, 404, 'branch not found');
      }
      if (method === 'GET' && rest.length === 2) return branch ? json(res, 200, { branch: branchJson(branch), ...(Object.keys(branch.annotations).length ? { annotation: annotationJson(branch) } : {}) }) : error(res, 404, 'branch not found');
      if (method === 'DELETE' && rest.length === 2) {
        if (!branch) {
          res.writeHead(204);
          res.end();
          return 204; // documented: the branch does not exist or was already deleted
        }
        if (branch.default) return error(res, 400, 'cannot delete the default branch');
        if (branch.busy) return error(res, 423, 'branch has running operations');
        branch.deleted = true;
        const ops = [...branch.endpoints.map((e) => operation(branch, 'suspend_compute', e)), operation(branch, 'delete_timeline')];
        work.push(
          (async () => {
            for (const e of branch.endpoints) await e.cluster?.stop('immediate');
            if (branch.dataDir) rmSync(branch.dataDir, { recursive: true, force: true });
            finish(ops);
          })(),
        );
        return json(res, 200, { branch: branchJson(branch), operations: ops.map(opJson) });
      }
    }
    return error(res, 404, `no route ${method} ${path}`);
  }

  const server = createServer((req, res) => {
    handle(req, res)
      .catch((e: Error) => error(res, 500, e.message))
      .then((status) => {
        const entry: FakeNeonRequest = { method: req.method ?? 'GET', path: new URL(req.url ?? '/', 'http://fake').pathname.replace(/^\/api\/v2/, ''), status, at: Date.now(), ...(bodies.has(req) ? { body: bodies.get(req) } : {}) };
        requests.push(entry);
        for (const w of [...waiters]) {
          if (w.path.test(entry.path) && (!w.method || w.method === entry.method)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(entry);
          }
        }
      });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));

  return {
    url: `http://127.0.0.1:${port}/api/v2`,
    apiKey,
    projectId,
    database,
    role,
    parentUrl: parent.url(role, ownerPassword, database),
    historyRetentionSeconds,
    createdAt,
    requests,
    inject: (injection) => injections.push({ ...injection }),
    waitForRequest: (path, method) => {
      const seen = requests.find((r) => path.test(r.path) && (!method || r.method === method));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ path, ...(method ? { method } : {}), resolve }));
    },
    liveBranches: () =>
      [...branches.values()].filter((b) => !b.deleted).map((b) => ({ id: b.id, name: b.name, annotations: b.annotations, ...(b.expires_at ? { expires_at: b.expires_at } : {}), ...(b.parent_lsn ? { parent_lsn: b.parent_lsn } : {}), ...(b.parent_timestamp ? { parent_timestamp: b.parent_timestamp } : {}) })),
    branchUrl: (branchId, db = database) => {
      const branch = branches.get(branchId);
      if (!branch || branch.deleted) throw new Error(`no live branch ${branchId}`);
      return `postgresql://${SUPERUSER}:${adminPassword}@127.0.0.1:${branch.endpoints[0]!.port}/${db}`;
    },
    query: (text, params) => sqlOne(parent.url(role, ownerPassword, database), text, params),
    stop: async () => {
      await new Promise((resolve) => server.close(resolve));
      await Promise.allSettled(work);
      for (const b of branches.values()) for (const e of b.endpoints) await e.cluster?.stop('immediate').catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, statements: string[]): Promise<pg.QueryResult<T>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    let last: pg.QueryResult<T> | undefined;
    for (const statement of statements) last = await client.query<T>(statement);
    return last!;
  } finally {
    await client.end();
  }
}

async function sqlOne<T extends pg.QueryResultRow>(url: string, text: string, params?: unknown[]): Promise<pg.QueryResult<T>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query<T>(text, params);
  } finally {
    await client.end();
  }
}

