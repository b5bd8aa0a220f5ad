// Server state through TanStack Query: one client, one hook per API read, the
// mutations of the approval workflow. Polling runs only while the tab is
// visible (refetchIntervalInBackground: false) and everything refetches when
// the window regains focus.

import {
  QueryClient,
  useMutation,
  useQueries,
  useQuery,
  useQueryClient,
  type Query,
} from '@tanstack/react-query';
import { createContext, useContext } from 'react';
import type { ChainSnapshot, SymbolMetrics } from './market';
import { auditPath, type AuditFilter } from './risk';
import {
  ApiError,
  getJson,
  postJson,
  putJson,
  type ApproveResult,
  type Performance,
  type Shadow,
  type RiskOverview,
  type RiskStateChange,
  type StrategyList,
  type StrategySetResult,
  type TradingMode,
  type AuditEntry,
  type Health,
  type History,
  type IngestRuns,
  type KillSwitch,
  type LatestQuotes,
  type MonitorRun,
  type Pnl,
  type PositionDetail,
  type PositionOrder,
  type PositionView,
  type Reconciliation,
  type Opportunities,
  type Proposal,
  type ProposalDetail,
  type Proposals,
} from './api';

/** How often market data and system state reload on their own. */
export const MARKET_REFRESH_MS = 60_000;
/** Proposals change with the cron and with decisions: poll a bit faster. */
export const PROPOSALS_REFRESH_MS = 30_000;
/** The position monitor marks every minute: positions, P&L and drift poll faster. */
export const POSITIONS_REFRESH_MS = 15_000;

/** Routes of the position engine: an older Worker without them hides their sections quietly. */
export const POSITION_ROUTES = ['/positions', '/orders', '/pnl', '/reconciliation', '/monitor/runs'];

/** A failed call as shown in the banner. */
export interface BannerError {
  source: string;
  code: string;
  message: string;
}

export function isUnauthorized(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 401 || error.status === 403) && error.code !== 'origin_not_allowed';
}

/** A route the Worker does not have: 404, or a non-JSON page served in its place. */
export function isMissingRoute(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 404 || error.code === 'not_json');
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 10_000,
        refetchOnWindowFocus: true,
        refetchIntervalInBackground: false,
        // 4xx answers do not get better by asking again.
        retry: (count, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 1,
      },
    },
  });
}

export interface Session {
  token: string | null;
  applyToken: (value: string) => void;
  forgetToken: () => void;
}

export const SessionContext = createContext<Session>({ token: null, applyToken: () => {}, forgetToken: () => {} });

export function useSession(): Session {
  return useContext(SessionContext);
}

function useGet<T>(path: string | null, refetchInterval: number, auth = true, enabled = true) {
  const { token } = useSession();
  return useQuery<T, Error>({
    queryKey: ['api', path, auth ? token : null],
    queryFn: ({ signal }) => getJson<T>(path ?? '', auth ? token : null, signal),
    enabled: enabled && path !== null,
    refetchInterval,
  });
}

/** `enabled: false` defers a secondary read (Today loads its trading data first). */
export const useHealth = (enabled = true) => useGet<Health>('/health', MARKET_REFRESH_MS, false, enabled);
export const useLatestQuotes = (enabled = true) => useGet<LatestQuotes>('/market/latest', MARKET_REFRESH_MS, true, enabled);
export const useOpportunities = () => useGet<Opportunities>('/search/opportunities?limit=10', MARKET_REFRESH_MS);
export const useRuns = (limit = 10) => useGet<IngestRuns>(`/ingest/runs?limit=${limit}`, MARKET_REFRESH_MS);
export const useKillSwitch = () => useGet<KillSwitch>('/kill-switch', MARKET_REFRESH_MS);
export const useProposals = (status: 'pending' | null, limit = 100) =>
  useGet<Proposals>(status ? `/proposals?status=${status}&limit=${limit}` : `/proposals?limit=${limit}`, PROPOSALS_REFRESH_MS);
export const useProposal = (id: string) =>
  useGet<ProposalDetail>(`/proposals/${encodeURIComponent(id)}`, PROPOSALS_REFRESH_MS);
/** The audit log, filtered by the Worker (proposal, position, kind; `before` pages back). */
export const useAudit = (filter: Partial<AuditFilter>, limit = 100) =>
  useGet<{ entries: AuditEntry[]; next_before: number | null; actions: string[] }>(auditPath(filter, limit), MARKET_REFRESH_MS);

export const useSymbolChain = (symbol: string) =>
  useGet<ChainSnapshot>(`/symbols/${encodeURIComponent(symbol)}/chain`, MARKET_REFRESH_MS);
export const useSymbolMetrics = (symbol: string, days = 90) =>
  useGet<SymbolMetrics>(`/symbols/${encodeURIComponent(symbol)}/metrics?days=${days}&interval=daily`, MARKET_REFRESH_MS);

/** 2-day price history of each symbol, one request each, all at once. */
export function useHistories(symbols: string[]) {
  const { token } = useSession();
  return useQueries({
    queries: symbols.map((symbol) => {
      const path = `/market/history?symbol=${encodeURIComponent(symbol)}&days=2`;
      return {
        queryKey: ['api', path, token],
        queryFn: ({ signal }: { signal: AbortSignal }) => getJson<History>(path, token, signal),
        refetchInterval: MARKET_REFRESH_MS,
      };
    }),
  });
}

function invalidateProposals(client: ReturnType<typeof useQueryClient>) {
  return client.invalidateQueries({
    predicate: (q: Query) => {
      const path = q.queryKey[1];
      return typeof path === 'string' && (path.startsWith('/proposals') || path.startsWith('/audit'));
    },
  });
}

export function useApprove(id: string) {
  const { token } = useSession();
  const client = useQueryClient();
  return useMutation<ApproveResult, ApiError, { note?: string }>({
    mutationFn: (body) => postJson<ApproveResult>(`/proposals/${encodeURIComponent(id)}/approve`, token, body),
    onSettled: () => invalidateProposals(client),
  });
}

export function useReject(id: string) {
  const { token } = useSession();
  const client = useQueryClient();
  return useMutation<Proposal, ApiError, { reason: string }>({
    mutationFn: (body) => postJson<Proposal>(`/proposals/${encodeURIComponent(id)}/reject`, token, body),
    onSettled: () => invalidateProposals(client),
  });
}

export function useSetKillSwitch() {
  const { token } = useSession();
  const client = useQueryClient();
  return useMutation<KillSwitch, ApiError, { on: boolean; reason: string }>({
    mutationFn: (body) => postJson<KillSwitch>('/kill-switch', token, body),
    onSettled: () =>
      client.invalidateQueries({
        predicate: (q: Query) => {
          const path = q.queryKey[1];
          return typeof path === 'string' && (path === '/kill-switch' || path.startsWith('/audit'));
        },
      }),
  });
}

// ---- Position engine ----

export const usePositions = (status: 'pending' | 'open' | 'closed' | 'void' | null, limit = 100) =>
  useGet<{ positions: PositionView[] }>(
    status ? `/positions?status=${status}&limit=${limit}` : `/positions?limit=${limit}`,
    POSITIONS_REFRESH_MS,
  );
export const usePosition = (id: string) =>
  useGet<PositionDetail>(`/positions/${encodeURIComponent(id)}`, POSITIONS_REFRESH_MS);
export const useOrders = (limit = 50) => useGet<{ orders: PositionOrder[] }>(`/orders?limit=${limit}`, POSITIONS_REFRESH_MS);
export const usePnl = (days = 30) => useGet<Pnl>(`/pnl?days=${days}`, POSITIONS_REFRESH_MS);
export const useReconciliation = () => useGet<Reconciliation>('/reconciliation', POSITIONS_REFRESH_MS);
export const useMonitorRuns = (limit = 1, enabled = true) =>
  useGet<{ runs: MonitorRun[] }>(`/monitor/runs?limit=${limit}`, POSITIONS_REFRESH_MS, true, enabled);

function invalidatePositions(client: ReturnType<typeof useQueryClient>) {
  return client.invalidateQueries({
    predicate: (q: Query) => {
      const path = q.queryKey[1];
      return (
        typeof path === 'string' &&
        (POSITION_ROUTES.some((r) => path.startsWith(r)) || path === '/risk' || path.startsWith('/audit'))
      );
    },
  });
}

/** 202 answer of `POST /positions/{id}/close`. */
export interface CloseResult {
  position: PositionView;
  message: string;
}

export function useClosePosition(id: string) {
  const { token } = useSession();
  const client = useQueryClient();
  return useMutation<CloseResult, ApiError, { note?: string }>({
    mutationFn: (body) => postJson<CloseResult>(`/positions/${encodeURIComponent(id)}/close`, token, body),
    onSettled: () => invalidatePositions(client),
  });
}

export function useSetExitsPaused(id: string) {
  const { token } = useSession();
  const client = useQueryClient();
  return useMutation<{ position: PositionView }, ApiError, { paused: boolean; reason: string }>({
    mutationFn: (body) => postJson<{ position: PositionView }>(`/positions/${encodeURIComponent(id)}/exits`, token, body),
    onSettled: () => invalidatePositions(client),
  });
}

export function useAcknowledgeDrift() {
  const { token } = useSession();
  const client = useQueryClient();
  return useMutation<Reconciliation, ApiError, { fingerprint: string; note: string }>({
    mutationFn: (body) => postJson<Reconciliation>('/reconciliation/ack', token, body),
    onSettled: () => invalidatePositions(client),
  });
}

// ---- Risk engine, strategies, performance ----

/** Routes of the risk engine: an older Worker without them falls back quietly. */
export const RISK_ROUTES = ['/risk', '/strategies', '/performance'];

export const useRisk = () => useGet<RiskOverview>('/risk', POSITIONS_REFRESH_MS);
export const useStrategies = () => useGet<StrategyList>('/strategies', MARKET_REFRESH_MS);
export const usePerformance = (from: string, to: string) =>
  useGet<Performance>(`/performance?from=${from}&to=${to}`, MARKET_REFRESH_MS);
/** `GET /performance/shadow?from=&to=` (an older Worker answers 501: not built). */
export const useShadow = (from: string, to: string) => useGet<Shadow>(`/performance/shadow?from=${from}&to=${to}`, MARKET_REFRESH_MS);

function invalidateRisk(client: ReturnType<typeof useQueryClient>) {
  return client.invalidateQueries({
    predicate: (q: Query) => {
      const path = q.queryKey[1];
      return (
        typeof path === 'string' &&
        (path === '/risk' || path === '/strategies' || path === '/kill-switch' || path.startsWith('/audit'))
      );
    },
  });
}

export function useSetTradingState() {
  const { token } = useSession();
  const client = useQueryClient();
  return useMutation<RiskStateChange, ApiError, { state: TradingMode; reason: string; clear?: string[] }>({
    mutationFn: (body) => postJson<RiskStateChange>('/risk/state', token, body),
    onSettled: () => invalidateRisk(client),
  });
}

export function useSetStrategy() {
  const { token } = useSession();
  const client = useQueryClient();
  return useMutation<StrategySetResult, ApiError, { strategy: string; enabled: boolean; reason: string }>({
    mutationFn: (body) => putJson<StrategySetResult>('/strategies', token, body),
    onSettled: () => invalidateRisk(client),
  });
}

/** `POST /risk/exits`: the trader pauses or resumes every automated exit (the trading mode is untouched). */
export function useSetAllExitsPaused() {
  const { token } = useSession();
  const client = useQueryClient();
  return useMutation<RiskStateChange, ApiError, { paused: boolean; reason: string }>({
    mutationFn: (body) => postJson<RiskStateChange>('/risk/exits', token, body),
    onSettled: () => invalidateRisk(client),
  });
}
