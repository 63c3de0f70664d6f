// Picks the replay suite from a recorded test run: per workflow type, one history for each distinct sequence of
// commands (activities, timers, children, markers, outcome), written to test/replay/<release>/<type>/.
// Usage: node dist/test/replay/select.js <raw dir> <out dir>   (scripts/record-histories.sh runs it)
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Enough for every branch a type's tests take; a loop with many rounds adds near-duplicates beyond it. */
const MAX_PER_TYPE = 16;

interface HistoryEvent {
  eventType: string;
  [attributes: string]: unknown;
}

/** The commands a history records, in order; a run of the same command collapses to one (`x*`), a loop's count aside. */
export function shape(events: HistoryEvent[]): string[] {
  const steps: string[] = [];
  for (const e of events) {
    const attrs = (key: string) => (e[key] ?? {}) as Record<string, { name?: string } | string | undefined>;
    const type = e.eventType.replace(/^EVENT_TYPE_/, '');
    let step: string | undefined;
    switch (type) {
      case 'ACTIVITY_TASK_SCHEDULED':
        step = `activity:${(attrs('activityTaskScheduledEventAttributes').activityType as { name: string }).name}`;
        break;
      case 'TIMER_STARTED':
        step = 'timer';
        break;
      case 'START_CHILD_WORKFLOW_EXECUTION_INITIATED':
        step = `child:${(attrs('startChildWorkflowExecutionInitiatedEventAttributes').workflowType as { name: string }).name}`;
        break;
      case 'MARKER_RECORDED':
        step = `marker:${attrs('markerRecordedEventAttributes').markerName as string}`;
        break;
      case 'WORKFLOW_EXECUTION_SIGNALED':
        step = `signal:${attrs('workflowExecutionSignaledEventAttributes').signalName as string}`;
        break;
      case 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED':
        step = 'update';
        break;
      case 'SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED':
      case 'REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED':
      case 'UPSERT_WORKFLOW_SEARCH_ATTRIBUTES':
      case 'WORKFLOW_PROPERTIES_MODIFIED':
      case 'WORKFLOW_EXECUTION_CANCEL_REQUESTED':
      case 'WORKFLOW_EXECUTION_COMPLETED':
      case 'WORKFLOW_EXECUTION_FAILED':
      case 'WORKFLOW_EXECUTION_CANCELED':
      case 'WORKFLOW_EXECUTION_TERMINATED':
      case 'WORKFLOW_EXECUTION_TIMED_OUT':
      case 'WORKFLOW_EXECUTION_CONTINUED_AS_NEW':
        step = type.toLowerCase();
        break;
    }
    if (step === undefined) continue;
    const last = steps.at(-1);
    if (last === step || last === `${step}*`) steps[steps.length - 1] = `${step}*`;
    else steps.push(step);
  }
  return steps;
}

function main(rawDir: string, outDir: string, types: Set<string>): void {
  // file name: <type>--<test file>--<workflow id>--<run id>.json (test/harness/histories.ts)
  const byType = new Map<string, { file: string; label: string; workflowId: string; events: HistoryEvent[]; size: number }[]>();
  for (const file of readdirSync(rawDir).filter((f) => f.endsWith('.json')).sort()) {
    const [type, label, workflowId] = file.split('--');
    if (!types.has(type!)) continue;
    const text = readFileSync(join(rawDir, file), 'utf8');
    const parsed = JSON.parse(text) as { workflowId?: string; events: HistoryEvent[] };
    const events = parsed.events;
    // A workflow test's fake of a child (test/workflows/fakes.ts) is not the workflow of that name.
    if (!events?.length || shape(events).some((step) => step.startsWith('activity:fakeChild'))) continue;
    byType.set(type!, [...(byType.get(type!) ?? []), { file, label: label!, workflowId: parsed.workflowId ?? workflowId!, events, size: text.length }]);
  }
  rmSync(outDir, { recursive: true, force: true });
  for (const [type, candidates] of byType) {
    // The smallest history of each shape; completed runs first, so the cap drops odd ones last.
    const chosen = new Map<string, (typeof candidates)[number]>();
    for (const c of [...candidates].sort((a, b) => a.size - b.size)) {
      const key = shape(c.events).join(' ');
      if (!chosen.has(key)) chosen.set(key, c);
    }
    const kept = [...chosen.values()].slice(0, MAX_PER_TYPE);
    mkdirSync(join(outDir, type), { recursive: true });
    const perLabel = new Map<string, number>();
    for (const c of kept.sort((a, b) => a.file.localeCompare(b.file))) {
      const n = (perLabel.get(c.label) ?? 0) + 1;
      perLabel.set(c.label, n);
      writeFileSync(join(outDir, type, `${c.label}-${n}.json`), `${JSON.stringify({ workflowId: c.workflowId, events: c.events }, null, 1)}\n`);
    }
    console.log(`${type}: ${kept.length} of ${chosen.size} distinct command sequences (${candidates.length} runs)`);
  }
  const missing = [...types].filter((t) => !byType.has(t));
  if (missing.length) console.log(`no run recorded for: ${missing.join(', ')}`);
}

if (process.argv[1]?.endsWith('select.js')) {
  const [rawDir, outDir] = process.argv.slice(2);
  if (!rawDir || !outDir) throw new Error('usage: select.js <raw dir> <out dir>');
  const workflows = await import('../../workflows/index.js');
  main(rawDir, outDir, new Set(Object.keys(workflows)));
}
