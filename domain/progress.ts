// What long activities report while they run (heartbeat details), shown by the CLI and the Temporal UI.

/** Heartbeat details of long activities: the CLI and the UI show them as progress. */
export interface Progress {
  phase: string;
  bytesDone: number;
  bytesTotal?: number; // an estimate where the exact size cannot be known up front
  storedBytes?: number;
  itemsDone?: number;
  itemsTotal?: number;
  itemsName?: string; // what the items are ("WAL segments"); "objects" when left out
  detail?: string;
}
