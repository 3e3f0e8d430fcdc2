/** Error messages every backend words the same way. */

/** The error create() throws when a sandbox did not come up: what went wrong, its last output, and a failed clean-up. */
export function startupFailure(o: { image: string; bundle: string; why: string; output?: string; outputName?: string; leftover?: string }): Error {
  const output = o.output ? `\n--- last ${o.outputName ?? 'container'} output ---\n${o.output}` : ` (the ${o.outputName ?? 'container'} printed nothing)`;
  return new Error(`sandbox from ${o.image} with bundle ${o.bundle} failed to start: ${o.why}${output}${o.leftover ? `\n${o.leftover}` : ''}`);
}

/** The id a caller passed is not one create() could have returned. */
export function invalidId(id: unknown, expected: string): Error {
  return new Error(`invalid sandbox id ${JSON.stringify(id)}: expected the id create() returned (${expected})`);
}
