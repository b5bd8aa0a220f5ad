-- Per-table operations state for `sas-archiver status` and `/metrics`
-- (issue 13): when the table last archived without error, and how many of
-- its runs failed in all.
ALTER TABLE archive_errors ADD COLUMN last_success_at timestamptz;
ALTER TABLE archive_errors ADD COLUMN errors_total bigint NOT NULL DEFAULT 0;
