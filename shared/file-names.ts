/**
 * A file name someone else chose (an upload's, say), fit to show and store:
 * control characters (NUL included) and bidirectional overrides removed, so
 * that `evil\u202Egguf.exe` cannot pass for something else, and path
 * separators replaced, so that it names one file and no folder.
 */
export function displayFileName(name: string): string {
  return name
    .replace(/[\p{Cc}\p{Bidi_Control}\u2028\u2029]/gu, '')
    .replace(/[\\/]/g, '_')
    .trim();
}
