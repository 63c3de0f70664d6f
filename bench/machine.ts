// The machine and the versions the numbers were measured with.
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { execa } from 'execa';
import { findTool } from '../client/demo/tools.js';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  ramBytes: number;
  kernel: string;
  os: string;
  postgres: string;
  versions: Record<string, string>;
  loadAverageAtStart: string;
}

async function firstLine(command: string, args: string[]): Promise<string> {
  const result = await execa(command, args, { reject: false });
  return `${result.stdout}\n${result.stderr}`.split('\n').map((l) => l.trim()).find(Boolean) ?? 'unknown';
}

export async function machineInfo(postgresVersion: string, extra: Record<string, string>): Promise<MachineInfo> {
  let os = 'unknown';
  try {
    os = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch {
    /* not Linux */
  }
  let load = 'unknown';
  try {
    load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    /* not Linux */
  }
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    ramBytes: totalmem(),
    kernel: release(),
    os,
    postgres: postgresVersion,
    loadAverageAtStart: load,
    versions: {
      node: process.version,
      gpg: await firstLine('gpg', ['--version']),
      zstd: await firstLine('zstd', ['--version']),
      gzip: await firstLine('gzip', ['--version']),
      temporal: await firstLine(findTool('temporal'), ['--version']),
      ...extra,
    },
  };
}
