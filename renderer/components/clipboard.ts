/** Puts text on the clipboard; fails (rather than doing nothing) where the page may not use it. */
export function copyText(text: string): Promise<void> {
  if (!navigator.clipboard) return Promise.reject(new Error('the clipboard is not available here'));
  return navigator.clipboard.writeText(text);
}
