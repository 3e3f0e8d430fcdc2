/**
 * Agentix client adapter: `RuntimeClient` from the runtime, loaded lazily so
 * the rest of the bench runs even while the runtime is missing or broken.
 */
import type { ClientFactory } from './types.js';

interface RuntimeClientLike {
  call<T>(target: string, args: unknown[], opts?: object): Promise<T>;
  stream<T>(target: string, args: unknown[], opts?: object): AsyncIterable<T>;
  bidi<I, O>(target: string, args: unknown[], opts?: object): AsyncIterable<O> & { send(x: I): void; close(): void };
  close(): Promise<void>;
}

export const connectAgentix: ClientFactory = async (url, opts) => {
  const mod = (await import('../../runtime/client/client.js')) as { RuntimeClient: { connect(url: string, o: { token?: string }): Promise<RuntimeClientLike> } };
  const client = await mod.RuntimeClient.connect(url, { token: opts.token });
  return {
    run: (x) => client.call<string>('run', [x]),
    echoBytes: (b) => client.call<Uint8Array>('echoBytes', [b]),
    count: async (n) => {
      let items = 0;
      for await (const _ of client.stream<number>('count', [n])) items++;
      return items;
    },
    openChat: async () => {
      const chat = client.bidi<string, string>('chat', []);
      const out = chat[Symbol.asyncIterator]();
      return {
        roundTrip: async (x) => {
          chat.send(x);
          const r = await out.next();
          if (r.done) throw new Error('chat ended early');
          return r.value;
        },
        close: async () => { chat.close(); while (!(await out.next()).done); },
      };
    },
    close: () => client.close(),
  };
};
