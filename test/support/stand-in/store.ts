/**
 * The stand-in API server's object store: pods and secrets per namespace,
 * one resourceVersion counter, and a bounded history of events so a watch
 * can resume from a version (or get 410 Gone when that version is too old),
 * as the real API server's watch cache does.
 */
export type Kind = 'pods' | 'secrets';
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Obj = Record<string, any> & { metadata: Record<string, any> & { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> } };

export interface StoredEvent {
  rv: number;
  kind: Kind;
  type: EventType;
  object: Obj;
}

type Watcher = (e: StoredEvent) => void;

const HISTORY = 2_000;

export class Store {
  private rv = 100;
  private readonly objects = new Map<string, Obj>();
  private readonly history: StoredEvent[] = [];
  private readonly watchers = new Set<Watcher>();

  get version(): number {
    return this.rv;
  }

  get(kind: Kind, ns: string, name: string): Obj | undefined {
    return this.objects.get(key(kind, ns, name));
  }

  list(kind: Kind, ns: string, selector: Selector): Obj[] {
    return [...this.objects.entries()].filter(([k, o]) => k.startsWith(`${kind}/${ns}/`) && selector(o.metadata.labels ?? {})).map(([, o]) => o);
  }

  all(kind: Kind): Obj[] {
    return [...this.objects.entries()].filter(([k]) => k.startsWith(`${kind}/`)).map(([, o]) => o);
  }

  /** Stores a new or changed object (a deep copy), bumps its resourceVersion and tells the watchers. */
  put(kind: Kind, obj: Obj, type: 'ADDED' | 'MODIFIED'): Obj {
    const copy = structuredClone(obj);
    copy.metadata.resourceVersion = String(++this.rv);
    this.objects.set(key(kind, copy.metadata.namespace, copy.metadata.name), copy);
    this.emit({ rv: this.rv, kind, type, object: copy });
    return copy;
  }

  remove(kind: Kind, ns: string, name: string): Obj | undefined {
    const k = key(kind, ns, name);
    const obj = this.objects.get(k);
    if (!obj) return undefined;
    this.objects.delete(k);
    const gone = structuredClone(obj);
    gone.metadata.resourceVersion = String(++this.rv);
    this.emit({ rv: this.rv, kind, type: 'DELETED', object: gone });
    return gone;
  }

  /** Events after `rv` (undefined: too old, the history no longer reaches back that far). */
  since(rv: number): StoredEvent[] | undefined {
    if (rv >= this.rv) return [];
    const oldest = this.history[0]?.rv;
    if (oldest !== undefined && rv < oldest - 1) return undefined;
    return this.history.filter((e) => e.rv > rv);
  }

  subscribe(w: Watcher): () => void {
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  private emit(e: StoredEvent): void {
    this.history.push(e);
    if (this.history.length > HISTORY) this.history.shift();
    for (const w of [...this.watchers]) w(e);
  }
}

const key = (kind: Kind, ns: string, name: string) => `${kind}/${ns}/${name}`;

export type Selector = (labels: Record<string, string>) => boolean;

/** Equality-based label selectors (`a=b,c==d,e!=f,g`): what the backend sends; anything else is refused. */
export function parseSelector(text: string | null): Selector {
  if (!text) return () => true;
  const terms = text.split(',').map((t) => {
    const m = /^([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)$/.exec(t.trim());
    if (m) return { key: m[1]!, op: m[2] === '!=' ? 'ne' : 'eq', value: m[3]! };
    if (/^[A-Za-z0-9./_-]+$/.test(t.trim())) return { key: t.trim(), op: 'exists', value: '' };
    throw new Error(`stand-in: unsupported label selector term ${JSON.stringify(t)}`);
  });
  return (labels) => terms.every((t) => (t.op === 'exists' ? t.key in labels : t.op === 'eq' ? labels[t.key] === t.value : labels[t.key] !== t.value));
}
