// Where the source cluster writes WAL now (its timeline and segment), when it answers: the timeline a restore and
// `wal status` follow. A source that is down is no reason not to restore: undefined then, with the reason.
import type pg from 'pg';
import { parse as parseUrl } from 'pg-connection-string';
import type { Config } from '../../config/schema.js';
import { openClient, sourceEndpoint } from '../postgres/connection.js';

export interface SourceNow {
  timeline?: number; // undefined on a standby
  walFile?: string;
  dataDirectory?: string;
  port?: number;
  /** The connection names this host (a restore here must not take its port). */
  local: boolean;
}

export async function sourceNow(config: Config, database: string, timeoutMs = 5_000): Promise<{ source?: SourceNow; error?: string }> {
  const endpoint = sourceEndpoint(config, database);
  let client: pg.Client | undefined;
  try {
    client = await openClient(endpoint, { connectionTimeoutMillis: timeoutMs, application_name: 'pgwarden timeline' }); // the URL's TLS meaning
    client.on('error', () => undefined);
    const { rows } = await client.query<{ dir: string | null; port: string; f: string | null }>(
      "SELECT current_setting('data_directory', true) AS dir, current_setting('port') AS port, " +
        'CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS f',
    );
    const row = rows[0]!;
    return {
      source: {
        ...(row.f ? { walFile: row.f, timeline: parseInt(row.f.slice(0, 8), 16) } : {}),
        ...(row.dir ? { dataDirectory: row.dir } : {}),
        port: Number(row.port),
        local: /^(localhost|127\.|::1|\/)/.test(parseUrl(endpoint.url).host ?? 'localhost'),
      },
    };
  } catch (error) {
    return { error: `${endpoint.display} did not answer: ${(error as Error).message}` };
  } finally {
    await client?.end().catch(() => undefined);
  }
}
