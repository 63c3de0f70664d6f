#!/usr/bin/env node
// The `pgwarden` command line's entry point. Node built-ins only here: what loads next depends on the command.
import { runPerSegmentCommand } from './per-segment.js';

// PostgreSQL starts wal-push and wal-fetch once per WAL segment: they run from a bundle of their own and end here.
if (await runPerSegmentCommand(process.argv.slice(2))) process.exit();
// Every other command: the program (client/program.ts, bundled where the build made a bundle) parses the arguments,
// runs the command and sets the exit code.
const { programEntry } = await import('./program-entry.js');
await import(programEntry(process.argv.slice(2)));
