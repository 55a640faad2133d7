// XML of the S3 API: responses are built as strings (one escaper, no builder: several times
// faster for 1000-key listings) and the few request bodies (CompleteMultipartUpload,
// DeleteObjects, CreateBucketConfiguration) are parsed with fast-xml-parser, keeping every
// value as text exactly as sent (a key "007" or " a " stays what it is).
import { XMLParser } from 'fast-xml-parser';
import { S3Error } from './errors.ts';

export const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';

const ESCAPES: Record<string, string> = {
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;',
};

/** Text for an XML element or attribute; control characters become references, as S3 does. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"'\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, (c) =>
    ESCAPES[c] ?? `&#x${c.charCodeAt(0).toString(16)};`);
}

/** `<name>text</name>` with the text escaped. */
export function el(name: string, text: string | number | boolean): string {
  return `<${name}>${escapeXml(String(text))}</${name}>`;
}

/** A whole response document whose root element carries the S3 namespace. */
export function xmlDocument(root: string, inner: string): string {
  return `${XML_DECLARATION}<${root} xmlns="${S3_XMLNS}">${inner}</${root}>`;
}

/** An error document (no namespace, as S3 sends it). */
export function errorDocument(fields: Record<string, string>): string {
  let inner = '';
  for (const [k, v] of Object.entries(fields)) inner += el(k, v);
  return `${XML_DECLARATION}<Error>${inner}</Error>`;
}

/** A parsed element: text, or child elements by name (repeated ones as arrays). */
export type XmlNode = string | { [name: string]: XmlNode | XmlNode[] };

/** Elements that may repeat in the bodies we parse: always arrays, even when there is one. */
const REPEATED = new Set(['Part', 'Object']);

const parser = new XMLParser({
  ignoreAttributes: true, parseTagValue: false, trimValues: false, ignoreDeclaration: true,
  removeNSPrefix: true, htmlEntities: true, isArray: (name: string) => REPEATED.has(name),
});

/** Parses a request body; anything that is not one `root` element is MalformedXML. */
export function parseXmlBody(body: Buffer, root: string): Record<string, XmlNode | XmlNode[]> {
  let doc: unknown;
  try {
    doc = parser.parse(body.toString('utf8'), true);
  } catch {
    throw new S3Error('MalformedXML');
  }
  const top = (doc as Record<string, unknown> | null)?.[root];
  if (top === '' || top === undefined) {
    if (top === '') return {};
    throw new S3Error('MalformedXML', `expected a ${root} element`);
  }
  if (typeof top !== 'object' || top === null || Array.isArray(top)) {
    throw new S3Error('MalformedXML', `${root} has no elements`);
  }
  return top as Record<string, XmlNode | XmlNode[]>;
}

/** The text of child `name` of `node` ('' when it is an empty element), or undefined. */
export function childText(node: XmlNode | XmlNode[] | undefined, name: string): string | undefined {
  if (node === undefined || typeof node === 'string' || Array.isArray(node)) return undefined;
  const v = node[name];
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return undefined;
  return Object.keys(v).length === 0 ? '' : undefined;
}

/** The repeated children `name` of `node` (an empty list when there are none). */
export function children(node: Record<string, XmlNode | XmlNode[]>, name: string): XmlNode[] {
  const v = node[name];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}
