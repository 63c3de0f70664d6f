// WAL file names, LSNs and segment headers: the arithmetic PostgreSQL's archive is built on.
import { PgwardenError } from '../../domain/errors.js';

export const DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024;

export type WalFileKind = 'segment' | 'partial' | 'backup' | 'history';

export interface WalFileName {
  name: string;
  kind: WalFileKind;
  timeline: number;
  /** Segment number (log * segments-per-log + seg) for segment, partial and backup files. */
  segno?: bigint;
}

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const PARTIAL = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\.partial$/;
const BACKUP = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\.[0-9A-F]{8}\.backup$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;

function segmentsPerLog(segmentSize: number): bigint {
  return 0x1_0000_0000n / BigInt(segmentSize);
}

/** Parses a file name PostgreSQL hands to archive_command/restore_command; undefined if it is none of them. */
export function parseWalFileName(name: string, segmentSize = DEFAULT_SEGMENT_SIZE): WalFileName | undefined {
  const history = HISTORY.exec(name);
  if (history) return { name, kind: 'history', timeline: parseInt(history[1]!, 16) };
  for (const [pattern, kind] of [
    [SEGMENT, 'segment'],
    [PARTIAL, 'partial'],
    [BACKUP, 'backup'],
  ] as const) {
    const match = pattern.exec(name);
    if (match) {
      const segno = BigInt(`0x${match[2]}`) * segmentsPerLog(segmentSize) + BigInt(`0x${match[3]}`);
      return { name, kind, timeline: parseInt(match[1]!, 16), segno };
    }
  }
  return undefined;
}

export function segmentName(timeline: number, segno: bigint, segmentSize = DEFAULT_SEGMENT_SIZE): string {
  const perLog = segmentsPerLog(segmentSize);
  const hex = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(segno / perLog)}${hex(segno % perLog)}`;
}

/** "0/3000028" -> 50331688n */
export function parseLsn(text: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  // The same text never parses: not worth a retry.
  if (!match) throw new PgwardenError('Usage', `"${text}" is not an LSN (write it like 0/3000028)`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffff_ffffn).toString(16).toUpperCase()}`;
}

export function segnoOfLsn(lsn: bigint, segmentSize = DEFAULT_SEGMENT_SIZE): bigint {
  return lsn / BigInt(segmentSize);
}

export interface SegmentHeader {
  magic: number; // XLOG_PAGE_MAGIC: changes with every WAL format, so it stands for the major version
  timeline: number;
  pageAddress: bigint;
  systemIdentifier: string;
  segmentSize: number;
  blockSize: number;
}

const XLP_LONG_HEADER = 0x0002;

/**
 * Reads the long page header at the start of a WAL segment (XLogLongPageHeaderData): who wrote it.
 * Undefined when the bytes are not the start of a segment.
 */
export function readSegmentHeader(bytes: Buffer): SegmentHeader | undefined {
  if (bytes.length < 40) return undefined;
  const info = bytes.readUInt16LE(2);
  if ((info & XLP_LONG_HEADER) === 0) return undefined;
  const segmentSize = bytes.readUInt32LE(32);
  if (segmentSize === 0 || (segmentSize & (segmentSize - 1)) !== 0) return undefined;
  return {
    magic: bytes.readUInt16LE(0),
    timeline: bytes.readUInt32LE(4),
    pageAddress: bytes.readBigUInt64LE(8),
    systemIdentifier: bytes.readBigUInt64LE(24).toString(),
    segmentSize,
    blockSize: bytes.readUInt32LE(36),
  };
}

export interface TimelineSwitch {
  /** The parent timeline… */
  parent: number;
  /** …was left at this LSN for the next timeline in the file. */
  switchLsn: bigint;
}

/** Parses a timeline history file ("1\t0/3000158\tno recovery target specified" per ancestor). */
export function parseHistory(text: string): TimelineSwitch[] {
  const switches: TimelineSwitch[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const [tli, lsn] = trimmed.split(/\s+/);
    if (tli && lsn) switches.push({ parent: Number(tli), switchLsn: parseLsn(lsn) });
  }
  return switches;
}
