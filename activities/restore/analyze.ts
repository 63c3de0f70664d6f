// Planner statistics for a restored database, so that it is fast from its first query. Each table is analyzed
// as soon as all its rows are in, on a connection of its own beside the loads of the others: the COPY sessions
// wait on WAL writes and the largest table's last pieces, and ANALYZE fills that time instead of adding a phase.
import type pg from 'pg';
import { connect, type PgEndpoint } from '../postgres/connection.js';

/** Column statistics do not depend on indexes; an expression index has statistics of its own, gathered once it exists. */
const TABLES_WITH_EXPRESSION_INDEXES = `
  SELECT DISTINCT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE i.indexprs IS NOT NULL AND n.nspname NOT IN ('pg_catalog', 'information_schema')`;

export class AnalyzeQueue {
  private readonly pending: string[] = [];
  private readonly queued = new Set<string>();
  private readonly clients: Promise<pg.Client>[] = [];
  private readonly lanes = new Set<Promise<void>>();
  private lanesAllowed = 1;
  private failed: unknown;

  constructor(private readonly staging: PgEndpoint) {}

  /** A table whose rows are all loaded: analyzed next, one table at a time while loading goes on. */
  add(table: string): void {
    if (this.queued.has(table)) return;
    this.queued.add(table);
    this.pending.push(table);
    this.startLanes();
  }

  /**
   * The rest of `tables` (those without rows to load), `lanes` at a time now that loading is over; resolves when
   * every table is analyzed, and rejects with the first failure.
   */
  async finish(tables: string[], lanes: number): Promise<void> {
    this.lanesAllowed = Math.max(1, lanes);
    for (const table of tables) this.add(table);
    this.startLanes();
    while (this.lanes.size > 0) await Promise.allSettled([...this.lanes]);
    if (this.failed !== undefined) throw this.failed;
  }

  /** After indexes and constraints are built: the tables among `restored` with an expression index, analyzed again. */
  async afterIndexes(restored: string[], lanes: number): Promise<void> {
    const client = await this.client(0);
    const { rows } = await client.query<{ name: string }>(TABLES_WITH_EXPRESSION_INDEXES);
    const wanted = new Set(restored);
    this.queued.clear();
    await this.finish(rows.map((r) => r.name).filter((name) => wanted.has(name)), lanes);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.lanes]);
    await Promise.all(this.clients.map((c) => c.then((client) => client.end()).catch(() => undefined)));
  }

  private client(lane: number): Promise<pg.Client> {
    this.clients[lane] ??= connect(this.staging, 'restore analyze');
    return this.clients[lane]!;
  }

  private startLanes(): void {
    while (this.failed === undefined && this.lanes.size < this.lanesAllowed && this.pending.length > 0) {
      const lane = this.freeLane();
      const running: Promise<void> = this.drain(lane).finally(() => this.lanes.delete(running));
      this.lanes.add(running);
    }
  }

  private readonly busy = new Set<number>();
  private freeLane(): number {
    let lane = 0;
    while (this.busy.has(lane)) lane += 1;
    this.busy.add(lane);
    return lane;
  }

  private async drain(lane: number): Promise<void> {
    try {
      const client = await this.client(lane);
      for (let table = this.pending.shift(); table !== undefined && this.failed === undefined; table = this.pending.shift()) {
        await client.query(`ANALYZE ${table}`);
      }
    } catch (error) {
      this.failed ??= error;
    } finally {
      this.busy.delete(lane);
    }
  }
}
