import { decodeBase64 } from '../../../judge/plan.js';
import { FieldErrors } from './errors.js';

/**
 * Base64 as Judge0 writes it: Ruby's `Base64.encode64`, a newline after every 60 characters and
 * at the end (`"aGVsbG8sIEp1ZGdlMAo=\n"`). Byte for byte what a Judge0 client already decodes.
 */
export function encode64(bytes: Buffer): string {
  const flat = bytes.toString('base64');
  if (flat === '') return '';
  return `${flat.match(/.{1,60}/g)!.join('\n')}\n`;
}

/**
 * A field a client sent base64-encoded. Line breaks are allowed (encode64's own output comes back);
 * anything else that is not base64 is a 422 on that field, where Judge0 would decode it leniently into garbage.
 */
export function decodeField(text: string, field: string): Buffer {
  try {
    return decodeBase64(text, field);
  } catch {
    throw new FieldErrors({ [field]: ['is not valid base64 (base64_encoded=true)'] });
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The bytes as text, or undefined when they are not UTF-8 (Judge0 then asks for base64_encoded=true). */
export function utf8(bytes: Buffer): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}
