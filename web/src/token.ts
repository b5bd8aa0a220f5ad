// Local-development API token handling.
//
// In production Cloudflare Access authenticates the page and no token is needed.
// Locally the Worker wants `Authorization: Bearer <token>`: the token arrives once
// in the URL fragment (`#token=...`, never sent to any server), is stored in
// localStorage, and the fragment is removed from the address bar and history.

const STORAGE_KEY = 'sas.apiToken';

/** Extracts `token` from a fragment like `#token=abc&x=y`; null when absent or empty. */
export function tokenFromFragment(hash: string): string | null {
  const fragment = hash.startsWith('#') ? hash.slice(1) : hash;
  if (fragment === '') return null;
  const value = new URLSearchParams(fragment).get('token');
  return value && value.trim() !== '' ? value.trim() : null;
}

/** The fragment with `token` removed ('' when nothing else remains). */
export function fragmentWithoutToken(hash: string): string {
  const fragment = hash.startsWith('#') ? hash.slice(1) : hash;
  const params = new URLSearchParams(fragment);
  params.delete('token');
  const rest = params.toString();
  return rest === '' ? '' : `#${rest}`;
}

export function readStoredToken(): string | null {
  try {
    return window.localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string | null): void {
  try {
    if (token) window.localStorage.setItem(STORAGE_KEY, token);
    else window.localStorage.removeItem(STORAGE_KEY);
  } catch {
    // Storage unavailable (private mode): the token lives in memory only.
  }
}

/**
 * Takes a token from the URL fragment if there is one (storing it and stripping
 * it from the address bar), otherwise returns the stored token.
 */
export function initialToken(): string | null {
  const fromFragment = tokenFromFragment(window.location.hash);
  if (fromFragment) {
    storeToken(fromFragment);
    const { pathname, search, hash } = window.location;
    window.history.replaceState(window.history.state, '', `${pathname}${search}${fragmentWithoutToken(hash)}`);
    return fromFragment;
  }
  return readStoredToken();
}
