import type { Session, Shell, WebContents, WebFrameMain } from 'electron';

/** The origin the UI is served from (see protocol.ts); nothing else is trusted. */
export const APP_SCHEME = 'app';
export const APP_HOST = 'freehold';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;

/** Only https links leave the app, to the user's browser; never file:, javascript: or custom schemes. */
export function isSafeExternalUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' && parsed.username === '' && parsed.password === '';
  } catch {
    return false;
  }
}

/** An IPC message counts only if it comes from the app's own top-level page. */
export function isTrustedSender(frame: WebFrameMain | null | undefined): boolean {
  if (!frame || frame.parent !== null) return false;
  return isAppUrl(frame.url);
}

/**
 * Whether a URL is on the app's own origin. Compares scheme and host: Node's URL
 * (used in the main process) reports origin "null" for custom schemes.
 */
export function isAppUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === `${APP_SCHEME}:` && parsed.host === APP_HOST && parsed.username === '' && parsed.password === '';
  } catch {
    return false;
  }
}

/** Navigation, new windows and webviews are denied; https links open in the browser. */
export function hardenWebContents(contents: WebContents, shell: Pick<Shell, 'openExternal'>): void {
  contents.on('will-navigate', (event, url) => {
    if (!isAppUrl(url)) event.preventDefault();
  });
  contents.on('will-redirect', (event, url) => {
    if (!isAppUrl(url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    if (isSafeExternalUrl(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
}

/**
 * No camera, microphone, notifications, geolocation, clipboard reading … The
 * one exception: the app's own page may write to the clipboard (Copy buttons
 * for code, the API URL and key); it can never read it.
 */
export function denyAllPermissions(session: Session): void {
  const ownPageMayWrite = (permission: string, origin: string | undefined) =>
    permission === 'clipboard-sanitized-write' && isAppOrigin(origin);
  session.setPermissionRequestHandler((contents, permission, callback, details) =>
    callback(ownPageMayWrite(permission, (details as { requestingUrl?: string } | undefined)?.requestingUrl ?? contents?.getURL?.())),
  );
  session.setPermissionCheckHandler((_contents, permission, requestingOrigin) => ownPageMayWrite(permission, requestingOrigin));
  session.setDevicePermissionHandler(() => false);
}

function isAppOrigin(url: string | undefined): boolean {
  if (!url) return false;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'app:' && parsed.host === 'freehold';
  } catch {
    return false;
  }
}
