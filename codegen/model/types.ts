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
  /** `any` as the user or a library wrote it; `declared` is where (the model check refuses an `any` without it). */
  | { kind: 'any'; declared?: string }
  | { kind: 'never' }
  /** TypeScript's `object`: anything but a primitive (arrays, Dates and bytes included). */
  | { kind: 'nonPrimitive' }
  /** TypeScript's `{}` (an object type without members): anything but `null` and `undefined`. */
  | { kind: 'nonNullish' }
  | { kind: 'literal'; value: string | number | boolean }
  | { kind: 'enum'; members: EnumMember[] }
  | { kind: 'array'; items: TypeModel; readonly?: boolean }
  | { kind: 'tuple'; elements: TupleElement[]; readonly?: boolean }
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
  /** `...T[]`: `type` is the element type of the rest (only last: leading and middle rests are refused). */
  rest?: boolean;
}

export interface PropertyModel {
  name: string;
  type: TypeModel;
  optional?: boolean;
  readonly?: boolean;
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
  /** A rest parameter declared `readonly T[]`. */
  readonly?: boolean;
}

/** One call signature (an overload) as it crosses the wire. */
export interface SignatureModel {
  /** The parameters the caller passes (without the inbox). */
  params: ParamModel[];
  /** Unary result, or one stream / bidi item. */
  returns: TypeModel;
}

export interface TargetModel {
  /** `run`, `default`, `bash.run`. */
  name: string;
  /** Module id (`app` or a plugin namespace). */
  module: string;
  /** Export name in the module. */
  export: string;
  shape: 'unary' | 'stream' | 'bidi';
  /** Every wire-compatible overload, in declaration order (one for a plain function). */
  signatures: SignatureModel[];
  inbox?: TypeModel;
  inboxIndex?: number;
  /** The function's JSDoc text, copied onto the stub. */
  doc?: string;
  /** For messages: where the function is declared (display path). */
  file: string;
  line: number;
}

export interface ProgramModel {
  /** Module id → file relative to the project root. */
  modules: Record<string, string>;
  targets: TargetModel[];
  defs: NamedModel[];
  /** What was left out on purpose (optional callbacks, symbol keys, overloads taking functions, excluded exports), one line each. */
  notes: string[];
}
