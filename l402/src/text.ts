/** Whether `text` holds a C0 control character or DEL; with `allowTab`, HTAB passes (it is whitespace in headers). */
export function hasControlCharacter(text: string, allowTab = false): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && !(allowTab && code === 0x09)) || code === 0x7f) return true;
  }
  return false;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The UTF-8 text of `bytes`, or undefined when they are not valid UTF-8. ASCII, the common case, skips TextDecoder. */
export function strictUtf8(bytes: Buffer): string | undefined {
  let ascii = true;
  for (let i = 0; i < bytes.length && ascii; i++) ascii = (bytes[i] ?? 0) < 0x80;
  if (ascii) return bytes.toString("latin1");
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}
