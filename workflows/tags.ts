// Small deterministic helpers shared by workflows.
import { upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { SEARCH_ATTRIBUTES } from '../domain/ids.js';

/** Makes the run findable by database/operation/kind when whoever started it did not set the attributes (UI, schedules). */
export function tagRun(database: string, operation: string, kind?: string): void {
  const present = workflowInfo().typedSearchAttributes;
  const updates = [];
  if (present.get(SEARCH_ATTRIBUTES.database) === undefined) updates.push({ key: SEARCH_ATTRIBUTES.database, value: database });
  if (present.get(SEARCH_ATTRIBUTES.operation) === undefined) updates.push({ key: SEARCH_ATTRIBUTES.operation, value: operation });
  if (kind !== undefined && present.get(SEARCH_ATTRIBUTES.kind) === undefined) updates.push({ key: SEARCH_ATTRIBUTES.kind, value: kind });
  if (updates.length > 0) upsertSearchAttributes(updates);
}

/** 2026-11-25T02:00:00.123Z -> "20261125T020000Z". */
export function compactTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}
