// Reads a history as `temporal workflow show --output json` writes it into the History the SDK replays.
import { createRequire } from 'node:module';
import type { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;

// The SDK's own historyFromJSON (@temporalio/common) parses with its copy of protobufjs against the types of
// @temporalio/proto, which npm installed with a copy of its own: protobufjs refuses a type of the other copy
// ("type must be a Type"). Parse with the copy the types were built with.
const require = createRequire(import.meta.url);
const protoEntry = require.resolve('@temporalio/proto');
const fromProto = createRequire(protoEntry);
const proto = fromProto(protoEntry) as object;
const { patchProtobufRoot } = fromProto('@temporalio/proto/lib/patch-protobuf-root') as { patchProtobufRoot<T>(root: T): T & { lookupType(name: string): unknown } };
const { fromJson } = fromProto('protobufjs/ext/protojson') as { fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown };
const historyType = patchProtobufRoot(proto).lookupType('temporal.api.history.v1.History');

export function historyFromJson(json: unknown): History {
  // Fields a newer server or CLI adds are not what a replay checks.
  const history = fromJson(historyType, json, { ignoreUnknownFields: true }) as History | null;
  if (!history?.events?.length) throw new TypeError('not a workflow history (expected {"events": [...]})');
  return history;
}
