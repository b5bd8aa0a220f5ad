import type { BannerError } from '../queries';

interface ErrorBannerProps {
  errors: BannerError[];
  onDismiss: () => void;
}

/** Non-blocking list of failed API calls. The live region is always present so screen readers hear changes. */
export function ErrorBanner({ errors, onDismiss }: ErrorBannerProps) {
  return (
    <div aria-live="polite" aria-atomic="true" className="banner-region">
      {errors.length > 0 ? (
        <div className="banner" data-testid="error-banner">
          <ul>
            {errors.map((e) => (
              <li key={`${e.source}:${e.code}`}>
                <code>{e.source}</code> {e.message} <span className="muted small">({e.code})</span>
              </li>
            ))}
          </ul>
          <button type="button" className="link-button" onClick={onDismiss} aria-label="Dismiss errors">
            ✕
          </button>
        </div>
      ) : null}
    </div>
  );
}
