/** A container's last output, for the error of a sandbox that failed to start. */
import type Docker from 'dockerode';

const LOG_TAIL_LINES = 40;
const LOG_READ_MS = 5_000;

/** The last lines a container printed, or '' (never throws: it only decorates another error). */
export async function lastLogLines(container: Docker.Container): Promise<string> {
  try {
    const raw = (await container.logs({ stdout: true, stderr: true, tail: LOG_TAIL_LINES, follow: false, abortSignal: AbortSignal.timeout(LOG_READ_MS) } as object)) as unknown as Buffer;
    return demuxLogs(raw).trimEnd();
  } catch {
    return '';
  }
}

/** Docker's multiplexed log stream: 8-byte header (stream, 0, 0, 0, big-endian size) per chunk. */
export function demuxLogs(raw: Buffer): string {
  let out = '';
  let i = 0;
  while (i + 8 <= raw.length && raw[i] <= 2 && raw[i + 1] === 0 && raw[i + 2] === 0 && raw[i + 3] === 0) {
    const size = raw.readUInt32BE(i + 4);
    out += raw.subarray(i + 8, i + 8 + size).toString('utf8');
    i += 8 + size;
  }
  return i === 0 ? raw.toString('utf8') : out;
}
