import type { ReactNode } from 'react';

/** Visual tone of a badge; mirrored in `data-state` for tests. */
export type Tone = 'ok' | 'warn' | 'bad' | 'info' | 'neutral';

interface BadgeProps {
  tone: Tone;
  children: ReactNode;
  testId?: string | undefined;
  title?: string | undefined;
}

export function Badge({ tone, children, testId, title }: BadgeProps) {
  return (
    <span className={`badge badge-${tone}`} data-state={tone} data-testid={testId} title={title}>
      {children}
    </span>
  );
}

/** Tone for a quote's data type: only live data is plain. */
export function dataTypeTone(dataType: string): Tone {
  switch (dataType) {
    case 'live':
      return 'ok';
    case 'delayed':
    case 'delayed_frozen':
    case 'frozen':
      return 'warn';
    case 'simulated':
      return 'info';
    default:
      return 'neutral';
  }
}

/** Tone for an ingestion run status. */
export function runStatusTone(status: string): Tone {
  switch (status) {
    case 'ok':
      return 'ok';
    case 'partial':
    case 'skipped':
      return 'warn';
    case 'failed':
      return 'bad';
    default:
      return 'neutral';
  }
}
