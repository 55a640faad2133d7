// The message table: every message number, its name, its fields and its link. Requests carry
// their reply's definition. Numbers are forever: never reuse or renumber one.
// Ranges: 0-999 any link, 1000 client<->master, 2000 master<->chunkserver,
// 3000 client<->chunkserver (also chunkserver<->chunkserver writes), 4000 master<->metalogger.
import { assert } from './assert.ts';
import type { Fields } from './codec.ts';

export type LinkKind = 'client-master' | 'master-chunkserver' | 'data' | 'master-metalogger';

export interface MessageDef<F extends Fields = Fields> {
  readonly type: number;
  readonly name: string;
  readonly link: LinkKind;
  readonly fields: F;
  /** Raw bytes follow the struct (block payloads); sent as their own buffer, never copied. */
  readonly tail: boolean;
  /** For replies: the payload starts with status:8 and has fields only when status is OK. */
  readonly isReply: boolean;
}

export interface RequestDef<F extends Fields = Fields, R extends Fields = Fields>
  extends MessageDef<F> {
  readonly reply: MessageDef<R>;
}

export const MESSAGES = new Map<number, MessageDef>();

function register(def: MessageDef): void {
  assert(!MESSAGES.has(def.type), `message number ${def.type} reused by ${def.name}`);
  assert(def.type >= 0 && def.type <= 0xffffffff, `message number ${def.type} out of range`);
  MESSAGES.set(def.type, def);
}

/** A request and its reply (reply number = request number + 1). */
export function defineRequest<F extends Fields, R extends Fields>(spec: {
  type: number; name: string; replyName: string; link: LinkKind;
  fields: F; replyFields: R; tail?: boolean; replyTail?: boolean;
}): RequestDef<F, R> {
  assert(spec.type % 2 === 0, `${spec.name}: requests have even numbers`);
  const reply: MessageDef<R> = {
    type: spec.type + 1, name: spec.replyName, link: spec.link, fields: spec.replyFields,
    tail: spec.replyTail ?? false, isReply: true,
  };
  const req: RequestDef<F, R> = {
    type: spec.type, name: spec.name, link: spec.link, fields: spec.fields,
    tail: spec.tail ?? false, isReply: false, reply,
  };
  register(req);
  register(reply);
  return req;
}

/** A one-way message (no reply). */
export function defineMessage<F extends Fields>(spec: {
  type: number; name: string; link: LinkKind; fields: F; tail?: boolean;
}): MessageDef<F> {
  const def: MessageDef<F> = {
    type: spec.type, name: spec.name, link: spec.link, fields: spec.fields,
    tail: spec.tail ?? false, isReply: false,
  };
  register(def);
  return def;
}
