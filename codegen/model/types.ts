/**
 * The type model: what a TypeScript type means on the wire, independent of
 * the checker (built by `model/index.ts`) and of any output format (the
 * emitters under `emit/` read only this).
 */
export type TypeModel =
  | { kind: 'string' }
  | { kind: 'number' }
  | { kind: 'boolean' }
  | { kind: 'bigint' }
  | { kind: 'null' }
  | { kind: 'undefined' }
  /** A `void` result: `undefined` on the wire, `void` in the stubs. */
  | { kind: 'void' }
  | { kind: 'unknown' }
  | { kind: 'any' }
  | { kind: 'never' }
  | { kind: 'literal'; value: string | number | boolean }
  | { kind: 'enum'; members: EnumMember[] }
  | { kind: 'array'; items: TypeModel }
  | { kind: 'tuple'; elements: TupleElement[] }
  | { kind: 'object'; properties: PropertyModel[]; index?: TypeModel }
  | { kind: 'union'; members: TypeModel[] }
  | { kind: 'intersection'; members: TypeModel[] }
  | { kind: 'date' }
  | { kind: 'bytes'; /** declared as Node's Buffer rather than Uint8Array */ buffer: boolean }
  | { kind: 'template'; parts: (string | TypeModel)[] }
  | { kind: 'ref'; name: string };

export interface EnumMember {
  name: string;
  value: string | number;
}

export interface TupleElement {
  type: TypeModel;
  optional?: boolean;
  /** `...T[]`: `type` is the element type of the rest. */
  rest?: boolean;
}

export interface PropertyModel {
  name: string;
  type: TypeModel;
  optional?: boolean;
}

/** A named type, emitted once and referenced as `#/$defs/<name>` / by name in stubs. */
export interface NamedModel {
  name: string;
  model: TypeModel;
}

export interface ParamModel {
  name: string;
  type: TypeModel;
  optional?: boolean;
  /** Rest parameter: `type` is the element type. */
  rest?: boolean;
}

export interface TargetModel {
  /** `run`, `default`, `bash.run`. */
  name: string;
  /** Module id (`app` or a plugin namespace). */
  module: string;
  /** Export name in the module. */
  export: string;
  shape: 'unary' | 'stream' | 'bidi';
  /** The parameters the caller passes (without the inbox). */
  params: ParamModel[];
  /** Unary result, or one stream / bidi item. */
  returns: TypeModel;
  inbox?: TypeModel;
  inboxIndex?: number;
  /** The function's JSDoc text, copied onto the stub. */
  doc?: string;
  /** For messages: where the function is declared. */
  file: string;
  line: number;
}

export interface ProgramModel {
  /** Module id → file relative to the project root. */
  modules: Record<string, string>;
  targets: TargetModel[];
  defs: NamedModel[];
}
