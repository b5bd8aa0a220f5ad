// The pre-trade checks stored with a proposal's approval (`risk_checks` of
// `GET /proposals/{id}`, the generated `StoredRiskCheck`), as the proposal
// detail shows them.

import type { StoredCheckLine, StoredRiskCheck } from './generated/index.ts';

/** What one stored report is: the approval's, a refused resend's, or unreadable. */
export function storedCheckTitle(c: Pick<StoredRiskCheck, 'approved' | 'unreadable'>): string {
  if (c.unreadable) return 'Stored report unreadable';
  return c.approved ? 'Checks passed at approval' : 'Checks refused before a resend';
}

function fmt(v: number | null): string {
  return v !== null && Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: 2 }) : '—';
}

/** A check's use of its limit: "412 of 500", a dash for an unknown side. */
export function checkUse(line: Pick<StoredCheckLine, 'used' | 'limit'>): string {
  return `${fmt(line.used)} of ${fmt(line.limit)}`;
}

/** The verdict in words: "pass", or "refused: reason". */
export function checkVerdict(line: Pick<StoredCheckLine, 'verdict' | 'reason'>): string {
  return line.verdict === 'pass' ? 'pass' : `refused${line.reason ? `: ${line.reason}` : ''}`;
}

/** The Unix-ms time of a stored report as the ISO string the formatters take. */
export function checkedAt(at: number): string {
  return new Date(at).toISOString();
}
