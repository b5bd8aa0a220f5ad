import { HealthPanel } from '../components/HealthPanel';
import { OpportunitiesPanel } from '../components/OpportunitiesPanel';
import { ProposalsPanel } from '../components/ProposalsPanel';
import { QuotesPanel } from '../components/QuotesPanel';
import { RunsPanel } from '../components/RunsPanel';
import { useNow } from '../useNow';
import type { HistoryPoint } from '../api';
import { isMissingRoute, useHealth, useHistories, useLatestQuotes, useOpportunities, useProposals, useRuns } from '../queries';

/** System health, pending proposals summary, quotes with sparklines, ranked opportunities, ingestion runs. */
export function MarketPage() {
  const health = useHealth();
  const quotes = useLatestQuotes();
  const opportunities = useOpportunities();
  const runs = useRuns();
  const proposals = useProposals('pending');
  const symbols = quotes.data?.quotes.map((q) => q.symbol) ?? [];
  const histories = useHistories(symbols);
  const history: Record<string, HistoryPoint[]> = {};
  symbols.forEach((symbol, i) => {
    const points = histories[i]?.data?.points;
    if (points) history[symbol] = points;
  });
  const now = useNow();
  const anyLoaded = quotes.isFetched || opportunities.isFetched;
  const placeholder = !anyLoaded ? 'Loading…' : 'Could not load: see the message above.';
  const pending = proposals.error && isMissingRoute(proposals.error) ? null : (proposals.data?.proposals ?? null);

  return (
    <>
      <HealthPanel placeholder={placeholder} health={health.data ?? null} fetchedAt={health.dataUpdatedAt || null} now={now} />
      <ProposalsPanel proposals={pending} now={now} />
      <div className="layout">
        <QuotesPanel placeholder={placeholder} quotes={quotes.data ?? null} history={history} now={now} />
        <OpportunitiesPanel placeholder={placeholder} opportunities={opportunities.data ?? null} now={now} />
        <RunsPanel placeholder={placeholder} runs={runs.data ?? null} now={now} />
      </div>
    </>
  );
}
