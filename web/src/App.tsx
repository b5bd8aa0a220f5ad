import { useEffect, useState } from 'react';
import { ErrorBanner } from './components/ErrorBanner';
import { HealthPanel } from './components/HealthPanel';
import { OpportunitiesPanel } from './components/OpportunitiesPanel';
import { ProposalsPanel } from './components/ProposalsPanel';
import { QuotesPanel } from './components/QuotesPanel';
import { RunsPanel } from './components/RunsPanel';
import { TokenForm } from './components/TokenForm';
import { formatTime } from './format';
import { useDashboard } from './useDashboard';

/** Re-renders every `ms` so relative ages ("12 min ago") stay current between fetches. */
function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(timer);
  }, [ms]);
  return now;
}

export function App() {
  const { state, token, refresh, applyToken, forgetToken, dismissErrors } = useDashboard();
  const now = Math.max(useNow(15_000), state.lastUpdated ?? 0);
  const placeholder =
    state.lastUpdated === null
      ? 'Loading…'
      : state.needsToken
        ? 'Needs a valid API token.'
        : 'Could not load: see the message above.';

  return (
    <>
      <header className="topbar">
        <h1>SAS</h1>
        <span className="muted small" data-testid="last-updated" aria-live="off">
          {state.lastUpdated ? `Updated ${formatTime(new Date(state.lastUpdated).toISOString(), now)}` : 'Loading…'}
        </span>
        <span className="spacer" />
        <button
          type="button"
          onClick={() => void refresh()}
          disabled={state.loading}
          aria-label="Refresh all data"
          data-testid="refresh-button"
          aria-busy={state.loading}
        >
          {state.loading ? 'Refreshing…' : 'Refresh'}
        </button>
      </header>
      <main>
        <ErrorBanner errors={state.errors} onDismiss={dismissErrors} />
        {state.needsToken ? <TokenForm hadToken={token !== null} onSubmit={applyToken} /> : null}
        <HealthPanel placeholder={placeholder} health={state.health} fetchedAt={state.healthFetchedAt} now={now} />
        <ProposalsPanel proposals={state.proposals} now={now} />
        <div className="layout">
          <QuotesPanel placeholder={placeholder} quotes={state.quotes} history={state.history} now={now} />
          <OpportunitiesPanel placeholder={placeholder} opportunities={state.opportunities} now={now} />
          <RunsPanel placeholder={placeholder} runs={state.runs} now={now} />
        </div>
      </main>
      <footer className="footer muted small">
        <span>Refreshes every minute.</span>
        {token ? (
          <button type="button" className="link-button small" onClick={forgetToken} data-testid="forget-token">
            Forget API token
          </button>
        ) : null}
      </footer>
    </>
  );
}
