/**
 * Per-command framing of a bash session's output. After each command the
 * session script prints a marker unique to the session (random, so command
 * output cannot contain it by accident): `<marker><exit code>\n` on stdout and
 * `<marker>\n` on stderr. Everything before a marker belongs to that command.
 *
 * Not an entry module: nothing here is callable remotely.
 */

export interface Segment {
  text: string;
  /** The exit code written after the stdout marker. */
  code?: number;
  truncated: boolean;
}

/** Splits one stream's text at the markers. */
export class MarkerSplitter {
  private pending = '';
  private taken = '';
  private truncated = false;
  private readonly segments: Segment[] = [];
  private readonly pattern: RegExp;
  /** A marker may arrive cut in two: this many trailing characters stay pending. */
  private readonly keep: number;

  constructor(marker: string, withCode: boolean, private readonly max: number) {
    this.pattern = withCode ? new RegExp(`${marker}(\\d+)\\n`) : new RegExp(`${marker}\\n`);
    this.keep = marker.length + 5;
  }

  push(text: string): void {
    if (!text) return;
    this.pending += text;
    for (;;) {
      const m = this.pattern.exec(this.pending);
      if (!m) break;
      this.take(this.pending.slice(0, m.index));
      this.segments.push({ text: this.taken, code: m[1] === undefined ? undefined : Number(m[1]), truncated: this.truncated });
      this.pending = this.pending.slice(m.index + m[0].length);
      this.taken = '';
      this.truncated = false;
    }
    if (this.pending.length > this.keep) {
      this.take(this.pending.slice(0, this.pending.length - this.keep));
      this.pending = this.pending.slice(this.pending.length - this.keep);
    }
  }

  /** The next complete segment, if one arrived. */
  shift(): Segment | undefined {
    return this.segments.shift();
  }

  /** Everything not yet framed (bash ended without a marker). */
  rest(): Segment {
    this.take(this.pending);
    const seg = { text: this.taken, truncated: this.truncated };
    this.pending = '';
    this.taken = '';
    this.truncated = false;
    return seg;
  }

  private take(text: string): void {
    const room = this.max - this.taken.length;
    if (text.length > room) {
      this.truncated = true;
      text = text.slice(0, Math.max(0, room));
    }
    this.taken += text;
  }
}

/**
 * The bash program a session runs (`bash -c`). Commands arrive on fd 3,
 * each terminated by a NUL byte, and run through `eval` in this one shell, so
 * `cd`, variables, functions and `set` options persist. The command runs with
 * stdin from /dev/null and without fds 3-5, so it can neither eat the next
 * commands nor hide a marker; `exec >file` in a command redirects the
 * command's output, not the markers, which go to copies of the original fds.
 * `$?` at the start of a command is the previous command's status, as in an
 * interactive shell.
 *
 * The markers are written by the loop's *condition* (`__agentix_next`), which
 * every way out of the body passes: `continue` or `continue 2` in a command
 * used to skip them and hang the session. The one-pass `for` around `eval`
 * absorbs a plain `break` / `continue` (at a prompt they do nothing either),
 * which used to end the session silently. The condition runs with its stderr
 * on /dev/null and turns `set -x` off until the next command's `eval` turns it
 * back on: the trace of this loop used to land in the command's stderr, put a
 * copy of the stderr marker in it and shift every later result.
 */
export function sessionScript(marker: string): string {
  return [
    'exec 4>&1 5>&2 </dev/null',
    '__agentix_started=',
    '__agentix_rc=0',
    '__agentix_xon=',
    '__agentix_status() { return "$1"; }',
    '__agentix_next() {',
    "  case $- in *x*) __agentix_xon='set -x'$'\\n'; set +x ;; *) __agentix_xon= ;; esac",
    '  __agentix_rc=$1',
    '  if [ -n "$__agentix_started" ]; then',
    `    printf '%s\\n' '${marker}' >&5`,
    `    printf '%s%d\\n' '${marker}' "$__agentix_rc" >&4`,
    '  fi',
    '  __agentix_started=1',
    "  IFS= read -r -d '' __agentix_cmd <&3",
    '}',
    'while { __agentix_next "$?"; } 2>/dev/null; do',
    '  __agentix_status "$__agentix_rc"',
    '  for __agentix_once in 1; do eval "$__agentix_xon$__agentix_cmd" 3<&- 4>&- 5>&-; done',
    'done',
  ].join('\n');
}
