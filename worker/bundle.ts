// Bundles the workflows once at build time (npm run build), so workers start in a second, not ten.
import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { PAYLOAD_CONVERTER, WORKFLOW_BUNDLE, WORKFLOW_INTERCEPTORS, WORKFLOWS_ENTRY } from './worker.js';

const { code } = await bundleWorkflowCode({
  workflowsPath: WORKFLOWS_ENTRY,
  payloadConverterPath: PAYLOAD_CONVERTER,
  workflowInterceptorModules: [WORKFLOW_INTERCEPTORS],
  logger: { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} } as never,
});
writeFileSync(WORKFLOW_BUNDLE, code);
console.log(`workflow bundle: ${WORKFLOW_BUNDLE} (${(code.length / 1024).toFixed(0)} KiB)`);
