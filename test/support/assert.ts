/** Assertions uvu lacks. */
import * as assert from 'uvu/assert';

/** uvu has no async throws: `p` must reject with a message matching `re`; the error is returned for more checks. */
export async function rejects(p: Promise<unknown>, re: RegExp): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.match((err as Error).message, re);
    return err as Error;
  }
  assert.unreachable(`expected a rejection matching ${re}`);
  throw new Error('unreachable');
}
