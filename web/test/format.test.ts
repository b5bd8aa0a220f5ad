import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatAge, formatDuration, formatPrice, formatVolume, humanize, secondsSince, spreadOf } from '../src/format.ts';
import { fragmentWithoutToken, tokenFromFragment } from '../src/token.ts';

test('formatAge picks the unit a person would say', () => {
  assert.equal(formatAge(null), '—');
  assert.equal(formatAge(2), 'just now');
  assert.equal(formatAge(45), '45 s ago');
  assert.equal(formatAge(720), '12 min ago');
  assert.equal(formatAge(3 * 3600 + 5 * 60), '3 h 5 min ago');
  assert.equal(formatAge(7200), '2 h ago');
  assert.equal(formatAge(3 * 86_400), '3 d ago');
  assert.equal(formatAge(-30), 'just now');
});

test('secondsSince measures from an ISO time and rejects garbage', () => {
  const now = Date.parse('2026-11-21T10:00:00Z');
  assert.equal(secondsSince('2026-11-21T09:58:00Z', now), 120);
  assert.equal(secondsSince('not a date', now), null);
  assert.equal(secondsSince(null, now), null);
});

test('spreadOf gives absolute spread and basis points of the mid', () => {
  const spread = spreadOf(99.95, 100.05);
  if (spread === null) throw new Error('expected a spread');
  assert.ok(Math.abs(spread.absolute - 0.1) < 1e-9);
  assert.ok(Math.abs(spread.bps - 10) < 1e-9);
  assert.equal(spreadOf(null, 1), null);
  assert.equal(spreadOf(0, 1), null);
  assert.equal(spreadOf(2, 1), null, 'crossed quotes have no meaningful spread');
});

test('number formats', () => {
  assert.equal(formatPrice(1234.5), '1,234.50');
  assert.equal(formatPrice(0.0412), '0.0412');
  assert.equal(formatPrice(Number.NaN), '—');
  assert.equal(formatVolume(12_345_678), '12.3M');
  assert.equal(formatVolume(null), '—');
  assert.equal(humanize('bull_put_spread'), 'Bull put spread');
});

test('formatDuration', () => {
  assert.equal(formatDuration('2026-11-21T10:00:00Z', '2026-11-21T10:00:00.850Z'), '850 ms');
  assert.equal(formatDuration('2026-11-21T10:00:00Z', '2026-11-21T10:00:04.200Z'), '4.2 s');
  assert.equal(formatDuration('2026-11-21T10:00:00Z', '2026-11-21T10:02:03Z'), '2 min 3 s');
  assert.equal(formatDuration('2026-11-21T10:00:00Z', null), '—');
});

test('token comes from the fragment and is removed from it', () => {
  assert.equal(tokenFromFragment('#token=abc123'), 'abc123');
  assert.equal(tokenFromFragment('#view=x&token=s3cr%2Bt'), 's3cr+t');
  assert.equal(tokenFromFragment('#token='), null);
  assert.equal(tokenFromFragment(''), null);
  assert.equal(tokenFromFragment('#other=1'), null);
  assert.equal(fragmentWithoutToken('#token=abc'), '');
  assert.equal(fragmentWithoutToken('#view=x&token=abc'), '#view=x');
});
