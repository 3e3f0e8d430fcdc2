/**
 * What every system's client adapter offers the measurement loops. Optional
 * methods are scenarios the system does not take part in (reported as such).
 */
export interface BenchClient {
  /** `run("hello")` → "hello". */
  run(x: string): Promise<string>;
  /** Sends the bytes as the argument and returns what came back. */
  echoBytes?(b: Uint8Array): Promise<Uint8Array>;
  /** Consumes a server stream of `n` small items; resolves with how many arrived. */
  count?(n: number): Promise<number>;
  /** Opens a bidi echo: each `roundTrip(x)` sends x and waits for its echo. */
  openChat?(): Promise<ChatEcho>;
  close(): Promise<void>;
}

export interface ChatEcho {
  roundTrip(x: string): Promise<string>;
  close(): Promise<void>;
}

export type ClientFactory = (url: string, opts: { token?: string }) => Promise<BenchClient>;
