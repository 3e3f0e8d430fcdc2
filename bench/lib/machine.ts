/** What the figures were measured on: written into every results file. */
import { cpus, loadavg, release, totalmem, availableParallelism } from 'node:os';
import type { Placement } from './placement.js';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memGiB: number;
  node: string;
  kernel: string;
  platform: string;
  placement: Placement;
  /** The second placement of the run (unary only), when there is one: see `otherPlacement` in placement.ts. */
  otherPlacement?: Placement;
  /**
   * 1-minute load average before the run (other work on the machine skews the
   * figures) and after the transport scenarios (which include the bench's own
   * server and client, about 2).
   */
  loadAvg: { start: number; afterTransport?: number };
}

export function machineInfo(placement: Placement, other?: Placement): MachineInfo {
  return {
    ...(other ? { otherPlacement: other } : {}),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    kernel: release(),
    platform: `${process.platform}/${process.arch}`,
    placement,
    loadAvg: { start: round2(loadavg()[0]) },
  };
}

export const currentLoad = (): number => round2(loadavg()[0]);
const round2 = (v: number) => Math.round(v * 100) / 100;
