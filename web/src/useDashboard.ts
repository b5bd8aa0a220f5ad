import { useCallback, useEffect, useRef, useState } from 'react';
import {
  ApiError,
  getJson,
  type Health,
  type History,
  type HistoryPoint,
  type IngestRuns,
  type LatestQuotes,
  type Opportunities,
  type Proposal,
  type Proposals,
} from './api';
import { initialToken, storeToken } from './token';

/** How often the dashboard reloads everything on its own. */
export const AUTO_REFRESH_MS = 60_000;

/** A failed call as shown in the banner. */
export interface BannerError {
  /** The API path that failed (without query string), used to de-duplicate. */
  source: string;
  code: string;
  message: string;
}

export interface DashboardState {
  health: Health | null;
  /** When `health` was fetched (ms since epoch), to age `last_ingest` live. */
  healthFetchedAt: number | null;
  quotes: LatestQuotes | null;
  history: Record<string, HistoryPoint[]>;
  opportunities: Opportunities | null;
  runs: IngestRuns | null;
  /** null: the route is missing (404) or not loaded; the section stays hidden. */
  proposals: Proposal[] | null;
  errors: BannerError[];
  needsToken: boolean;
  loading: boolean;
  lastUpdated: number | null;
}

const EMPTY: DashboardState = {
  health: null,
  healthFetchedAt: null,
  quotes: null,
  history: {},
  opportunities: null,
  runs: null,
  proposals: null,
  errors: [],
  needsToken: false,
  loading: true,
  lastUpdated: null,
};

function sourceOf(path: string): string {
  const q = path.indexOf('?');
  return q === -1 ? path : path.slice(0, q);
}

function toBannerError(path: string, error: unknown): BannerError {
  if (error instanceof ApiError) {
    return { source: sourceOf(path), code: error.code, message: error.message };
  }
  return { source: sourceOf(path), code: 'client_error', message: 'Unexpected error while loading data.' };
}

function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}

/** A route the Worker does not have yet: 404, or a non-JSON page served in its place. */
function isMissingRoute(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 404 || error.code === 'not_json');
}

function isUnauthorized(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 401 || error.status === 403);
}

/** Loads every dashboard feed, refreshes them every minute, and tracks the local API token. */
export function useDashboard() {
  const [token, setToken] = useState<string | null>(() => initialToken());
  const [state, setState] = useState<DashboardState>(EMPTY);
  const inFlight = useRef<AbortController | null>(null);

  const refresh = useCallback(async () => {
    inFlight.current?.abort();
    const controller = new AbortController();
    inFlight.current = controller;
    const { signal } = controller;
    setState((s) => ({ ...s, loading: true }));

    const errors: BannerError[] = [];
    let unauthorized = false;
    const note = (path: string, error: unknown) => {
      if (isAbort(error)) return;
      if (isUnauthorized(error)) unauthorized = true;
      else errors.push(toBannerError(path, error));
    };

    const load = async <T,>(path: string, auth: boolean): Promise<T | undefined> => {
      try {
        return await getJson<T>(path, auth ? token : null, signal);
      } catch (error) {
        if (path.startsWith('/proposals') && isMissingRoute(error)) {
          throw error; // handled below: a missing route hides the section.
        }
        note(path, error);
        return undefined;
      }
    };

    const proposalsPath = '/proposals?status=pending';
    const [health, quotes, opportunities, runs, proposals] = await Promise.all([
      load<Health>('/health', false),
      load<LatestQuotes>('/market/latest', true),
      load<Opportunities>('/search/opportunities?limit=10', true),
      load<IngestRuns>('/ingest/runs?limit=10', true),
      load<Proposals>(proposalsPath, true).then(
        (value): Proposal[] | null | undefined => (value ? (value.proposals ?? []) : undefined),
        (): null => null,
      ),
    ]);

    // Price history, one request per symbol, all at once.
    const history: Record<string, HistoryPoint[]> = {};
    if (quotes && !signal.aborted) {
      const historyErrors: string[] = [];
      await Promise.all(
        quotes.quotes.map(async (quote) => {
          const path = `/market/history?symbol=${encodeURIComponent(quote.symbol)}&days=2`;
          try {
            const h = await getJson<History>(path, token, signal);
            history[quote.symbol] = h.points ?? [];
          } catch (error) {
            if (isAbort(error)) return;
            if (isUnauthorized(error)) unauthorized = true;
            else historyErrors.push(`${quote.symbol}: ${error instanceof ApiError ? error.message : 'failed'}`);
          }
        }),
      );
      if (historyErrors.length > 0) {
        errors.push({
          source: '/market/history',
          code: 'history_unavailable',
          message: `Price history failed for ${historyErrors.join('; ')}`,
        });
      }
    }

    if (signal.aborted) return;
    const now = Date.now();
    setState((s) => ({
      health: health ?? s.health,
      healthFetchedAt: health ? now : s.healthFetchedAt,
      quotes: quotes ?? s.quotes,
      history: quotes ? { ...s.history, ...history } : s.history,
      opportunities: opportunities ?? s.opportunities,
      runs: runs ?? s.runs,
      proposals: proposals === undefined ? s.proposals : proposals,
      errors,
      needsToken: unauthorized,
      loading: false,
      lastUpdated: now,
    }));
  }, [token]);

  const lastUpdated = useRef<number>(0);
  useEffect(() => {
    lastUpdated.current = state.lastUpdated ?? 0;
  }, [state.lastUpdated]);

  useEffect(() => {
    void refresh();
    // Hidden tabs skip the timer; coming back after a minute or more refreshes at once.
    const timer = window.setInterval(() => {
      if (document.visibilityState === 'visible') void refresh();
    }, AUTO_REFRESH_MS);
    const onVisible = () => {
      if (document.visibilityState === 'visible' && Date.now() - lastUpdated.current >= AUTO_REFRESH_MS) {
        void refresh();
      }
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      window.clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
      inFlight.current?.abort();
    };
  }, [refresh]);

  const applyToken = useCallback((value: string) => {
    const trimmed = value.trim();
    storeToken(trimmed === '' ? null : trimmed);
    setToken(trimmed === '' ? null : trimmed);
  }, []);

  const forgetToken = useCallback(() => {
    storeToken(null);
    setToken(null);
  }, []);

  const dismissErrors = useCallback(() => setState((s) => ({ ...s, errors: [] })), []);

  return { state, token, refresh, applyToken, forgetToken, dismissErrors };
}
