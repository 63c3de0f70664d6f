// The calls pgwarden makes to Neon's v2 API (through Neon's own client), with the API's documented failure modes
// handled in one place: 423 Locked and 5xx are retried with backoff, 429 waits as long as Retry-After says,
// 401/403 and an unknown project are configuration errors that no retry fixes; POST, which Neon does not make
// safe to repeat, is never repeated blindly.
import { createApiClient, type Api, type Branch, type BranchCreateRequest, type Operation } from '@neondatabase/api-client';
import { PgwardenError, type FailureKind } from '../../../domain/errors.js';
import { databaseView } from '../../../config/load.js';
import type { Config, NeonSettings } from '../../../config/schema.js';
import { resolveSecret } from '../../../config/secrets.js';
import { currentReporter } from '../../progress.js';

export type NeonBranch = Branch;
export type NeonOperation = Operation;

/** Annotations pgwarden puts on the branches it makes: how retention and `branches list` recognise them. */
export interface PgwardenAnnotations {
  'pgwarden-purpose': 'backup' | 'pitr';
  'pgwarden-database': string;
  'pgwarden-workflow-id'?: string;
  'pgwarden-run-id'?: string;
}

export interface NeonProjectInfo {
  id: string;
  name: string;
  pgVersion: number;
  /** How far back branches can be made (Neon's history window / restore window), as the project is set. */
  historyRetentionSeconds: number;
  /** When the project was made: its history starts there. */
  createdAt: string;
  /** The owner's plan (Neon's subscription_type), when the API says: it caps the history window. */
  plan?: string;
}

export interface BranchWithAnnotations {
  branch: NeonBranch;
  annotations: Record<string, string>;
}

/** How long one call keeps retrying 423/429/5xx before it gives up (the activity's own retries come on top). */
const CALL_BUDGET_MS = 120_000;

/**
 * A call that failed, with what is known of Neon's answer: `status` is undefined when none came (a timeout, a
 * connection lost), which after a POST means Neon may have done the work all the same.
 */
export class NeonCallError extends PgwardenError {
  constructor(
    kind: FailureKind,
    message: string,
    readonly status: number | undefined,
    options: { retryable?: boolean } = {},
  ) {
    super(kind, message, options);
  }

  /** No answer, or a server error: whether the request took effect is unknown. */
  get unanswered(): boolean {
    return this.status === undefined || this.status >= 500;
  }
}

interface HttpFailure {
  status?: number;
  retryAfterMs?: number;
  message: string;
  requestId?: string;
}

export class NeonApi {
  private readonly api: Api<unknown>;

  constructor(
    readonly settings: NeonSettings,
    apiKey: string,
    private readonly signal?: AbortSignal,
  ) {
    this.api = createApiClient({ apiKey, baseURL: settings.apiUrl, timeout: settings.requestTimeout });
  }

  /** The API key from the environment variable the config names (the runbook's NEON_API_KEY). */
  static fromConfig(settings: NeonSettings, database: string, signal?: AbortSignal): NeonApi {
    return new NeonApi(settings, resolveSecret({ env: settings.apiKeyEnv }, `the Neon API key of database "${database}"`), signal);
  }

  get projectId(): string {
    return this.settings.projectId;
  }

  async project(): Promise<NeonProjectInfo> {
    const { project } = await this.call('GET project', () => this.api.getProject(this.projectId), { notFound: 'project' });
    return {
      id: project.id,
      name: project.name,
      pgVersion: project.pg_version,
      historyRetentionSeconds: project.history_retention_seconds,
      createdAt: project.created_at,
      ...(project.owner?.subscription_type ? { plan: project.owner.subscription_type } : {}),
    };
  }

  /** Every branch (all pages), with its annotations; `search` filters by name or id on the server. */
  async branches(search?: string): Promise<BranchWithAnnotations[]> {
    const all: BranchWithAnnotations[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page += 1) {
      const body = await this.call(
        'GET branches',
        () => this.api.listProjectBranches({ projectId: this.projectId, limit: 100, sort_by: 'created_at', sort_order: 'asc', ...(search ? { search } : {}), ...(cursor ? { cursor } : {}) }),
        { notFound: 'project' },
      );
      for (const branch of body.branches) {
        all.push({ branch, annotations: { ...(body.annotations?.[branch.id]?.value ?? {}) } as Record<string, string> });
      }
      cursor = body.pagination?.next;
      if (!cursor || body.branches.length === 0) break;
    }
    return all;
  }

  /** A branch by id with its annotations, or undefined when it does not exist (any more). */
  async branch(branchId: string): Promise<BranchWithAnnotations | undefined> {
    const body = await this.call('GET branch', () => this.api.getProjectBranch(this.projectId, branchId), { notFound: 'missing' });
    return body?.branch ? { branch: body.branch, annotations: { ...(body.annotation?.value ?? {}) } as Record<string, string> } : undefined;
  }

  /** The branch a configured id or name (or, when none is configured, the project's default branch) stands for. */
  async parentBranch(): Promise<NeonBranch> {
    const wanted = this.settings.parentBranch;
    const branches = await this.branches(wanted && !wanted.startsWith('br-') ? wanted : undefined);
    const found = wanted ? branches.find((b) => b.branch.id === wanted || b.branch.name === wanted) : branches.find((b) => b.branch.default);
    if (!found) {
      throw new PgwardenError(
        'Config',
        wanted
          ? `Neon project ${this.projectId} has no branch "${wanted}": fix neon.parentBranch (an id br-… or a branch name).`
          : `Neon project ${this.projectId} reports no default branch: set neon.parentBranch.`,
      );
    }
    return found.branch;
  }

  /** The compute endpoints of a branch. */
  async endpoints(branchId: string): Promise<Array<{ id: string; type: string; host: string }>> {
    const body = await this.call('GET branch endpoints', () => this.api.listProjectBranchEndpoints(this.projectId, branchId), { notFound: 'branch' });
    return body.endpoints.map((e) => ({ id: e.id, type: e.type, host: e.host }));
  }

  /**
   * POST branches: answers with the branch, its endpoints and the operations that are making them. Made once:
   * when no answer came (or a 5xx, or 409) the caller looks the branch up before it asks again.
   */
  async createBranch(request: BranchCreateRequest & { annotation_value?: PgwardenAnnotations }) {
    return this.call('POST branches', () => this.api.createProjectBranch(this.projectId, request as never), { notFound: 'project', once: true });
  }

  /** The operations on one branch among the project's most recent ones (a branch found again after a lost answer). */
  async branchOperations(branchId: string): Promise<NeonOperation[]> {
    const body = await this.call('GET operations', () => this.api.listProjectOperations({ projectId: this.projectId, limit: 100 }), { notFound: 'project' });
    return body.operations.filter((o) => o.branch_id === branchId);
  }

  async operation(operationId: string): Promise<NeonOperation> {
    const { operation } = await this.call('GET operation', () => this.api.getProjectOperation(this.projectId, operationId), { notFound: 'project' });
    return operation;
  }

  /** Deletes a branch; a branch already gone (204, or 404) is success: deleting twice is safe. */
  async deleteBranch(branchId: string): Promise<{ gone: boolean; operations: NeonOperation[] }> {
    const body = await this.call('DELETE branch', () => this.api.deleteProjectBranch({ projectId: this.projectId, branchId }), { notFound: 'missing' });
    if (!body || !body.branch) return { gone: true, operations: [] };
    return { gone: false, operations: body.operations ?? [] };
  }

  /** The connection URI of a branch's endpoint (the read-write one unless `endpointId`): it holds the role's password. */
  async connectionUri(input: { branchId: string; endpointId?: string }): Promise<string> {
    const { uri } = await this.call(
      'GET connection_uri',
      () =>
        this.api.getConnectionUri({
          projectId: this.projectId,
          branch_id: input.branchId,
          database_name: this.settings.database,
          role_name: this.settings.role,
          ...(input.endpointId ? { endpoint_id: input.endpointId } : {}),
        }),
      { notFound: 'branch' },
    );
    return uri;
  }

  /**
   * One API call with the documented failure modes handled: 423 (another operation holds the project) and 5xx
   * are retried with backoff, 429 after Retry-After, up to CALL_BUDGET_MS; then the error is retryable by
   * Temporal. 401/403 and a missing project are configuration errors, never retried.
   */
  private async call<T>(
    what: string,
    request: () => Promise<{ data: T; status: number }>,
    options: { notFound: 'project' | 'branch' | 'missing'; once?: boolean },
  ): Promise<T> {
    const deadline = Date.now() + CALL_BUDGET_MS;
    for (let attempt = 1; ; attempt += 1) {
      let failure: HttpFailure;
      try {
        const response = await request();
        if (response.status === 204) return undefined as T;
        return response.data;
      } catch (error) {
        failure = describeFailure(error);
      }
      const where = `Neon API ${what} (project ${this.projectId})`;
      const detail = `${failure.status ?? 'no response'}: ${failure.message}${failure.requestId ? ` (request ${failure.requestId})` : ''}`;
      if (failure.status === 401 || failure.status === 403) {
        throw new NeonCallError('Config', `${where} refused the API key (${detail}). Check the key in $${this.settings.apiKeyEnv} and that it may manage project ${this.projectId}.`, failure.status);
      }
      if (failure.status === 404) {
        if (options.notFound === 'missing') return undefined as T;
        if (options.notFound === 'project') {
          throw new NeonCallError('Config', `${where}: not found (${detail}). Check neon.projectId and neon.apiUrl in pgwarden.yaml.`, 404);
        }
        throw new NeonCallError('NotFound', `${where}: not found (${detail}). The branch, its endpoint, database "${this.settings.database}" or role "${this.settings.role}" does not exist.`, 404);
      }
      // 423 and 429 say that nothing was done; no answer or a 5xx after a POST may hide work done.
      const unanswered = failure.status === undefined || failure.status >= 500;
      if (options.once && unanswered) {
        throw new NeonCallError('Unavailable', `${where}: ${detail}; Neon may have done it all the same.`, failure.status, { retryable: true });
      }
      const retryable = unanswered || failure.status === 423 || failure.status === 429;
      if (!retryable) {
        throw new NeonCallError('Failed', `${where} failed (${detail}).`, failure.status, { retryable: false });
      }
      const wait = failure.retryAfterMs ?? Math.min(1_000 * 2 ** (attempt - 1), 15_000);
      if (Date.now() + wait > deadline) {
        const why = failure.status === 423 ? 'the project stayed locked by another operation' : failure.status === 429 ? 'the API kept rate-limiting' : 'the API kept failing';
        throw new NeonCallError('Unavailable', `${where}: ${why} for ${Math.round(CALL_BUDGET_MS / 1000)} s (last: ${detail}); will be retried.`, failure.status, { retryable: true });
      }
      await sleep(wait, this.signal);
    }
  }
}

export function neonSettings(config: Config, database: string): NeonSettings {
  const db = databaseView(config, database);
  if (db.settings.provider !== 'neon' || !db.settings.neon) {
    throw new PgwardenError('Config', `Database "${database}" is not a Neon database (provider: ${db.settings.provider}).`);
  }
  return db.settings.neon;
}

/** The API client of a Neon database, stopped when the running activity is cancelled. */
export function neonApi(config: Config, database: string): NeonApi {
  return NeonApi.fromConfig(neonSettings(config, database), database, currentReporter().signal);
}

/** Status, Retry-After and Neon's error message from what axios threw (its errors carry the response). */
function describeFailure(error: unknown): HttpFailure {
  const e = error as { response?: { status?: number; headers?: Record<string, unknown>; data?: unknown }; message?: string; code?: string };
  if (!e.response) return { message: `${e.code ?? 'network error'}: ${e.message ?? String(error)}` };
  const data = e.response.data as { message?: string; request_id?: string } | undefined;
  const headers = e.response.headers ?? {};
  const retryAfter = parseRetryAfter(headers['retry-after']);
  return {
    ...(e.response.status !== undefined ? { status: e.response.status } : {}),
    ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}),
    message: (typeof data === 'object' && data?.message) || e.message || 'error',
    ...(typeof data === 'object' && data?.request_id ? { requestId: data.request_id } : {}),
  };
}

/** Retry-After as seconds or as an HTTP date (RFC 9110), in milliseconds from now; capped at 5 minutes. */
export function parseRetryAfter(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const text = String(value).trim();
  let ms: number | undefined;
  if (/^\d+(\.\d+)?$/.test(text)) ms = Number(text) * 1_000;
  else if (text !== '' && !Number.isNaN(Date.parse(text))) ms = Math.max(0, Date.parse(text) - now);
  return ms === undefined ? undefined : Math.min(ms, 300_000);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
