-- What started a run: `schedule` (the daemon's job loop), `manual` (`huntd once --store`) or
-- `backfill` (`huntd backfill`, `backfill_on_create`). A backfill chunk may start or end where
-- a scheduled slot does, so a slot is unique per trigger, and per instance for jobs that hunt
-- several. SQLite cannot change a table's unique constraint: the table is rebuilt (SQLite's
-- documented procedure; huntd migrates on a connection with foreign keys off and runs
-- `foreign_key_check` before it commits). The legacy rename keeps the views that read
-- hunt_runs from being re-checked while the table is away.
pragma legacy_alter_table = on;

create table hunt_runs_rebuilt (
    id integer primary key autoincrement,
    job text not null references hunt_jobs (name),
    instance text not null,
    slot_at text not null,
    window_start text not null,
    window_end text not null,
    status text not null
        check (status in ('running', 'succeeded', 'failed', 'interrupted', 'skipped')),
    attempt integer not null default 1,
    node text not null,
    lease_owner text,
    lease_expires_at text,
    started_at text not null,
    finished_at text,
    duration_ms integer,
    row_count integer,
    new_row_count integer,
    truncated integer,
    api text,
    http_status integer,
    client_request_id text,
    error_class text,
    error_message text,
    query_sha256 text not null,
    api_calls integer,
    throttle_wait_ms integer,
    trigger text not null default 'schedule'
        check (trigger in ('schedule', 'manual', 'backfill')),
    unique (job, instance, trigger, slot_at)
);

insert into hunt_runs_rebuilt (id, job, instance, slot_at, window_start, window_end, status,
    attempt, node, lease_owner, lease_expires_at, started_at, finished_at, duration_ms,
    row_count, new_row_count, truncated, api, http_status, client_request_id, error_class,
    error_message, query_sha256, api_calls, throttle_wait_ms, trigger)
select id, job, instance, slot_at, window_start, window_end, status,
    attempt, node, lease_owner, lease_expires_at, started_at, finished_at, duration_ms,
    row_count, new_row_count, truncated, api, http_status, client_request_id, error_class,
    error_message, query_sha256, api_calls, throttle_wait_ms,
    case when node like '%-once-%' then 'manual' else 'schedule' end
from hunt_runs;

drop table hunt_runs;
alter table hunt_runs_rebuilt rename to hunt_runs;
pragma legacy_alter_table = off;

create index hunt_runs_lease on hunt_runs (status, lease_expires_at);
create index hunt_runs_started on hunt_runs (started_at);
create index hunt_runs_job_status on hunt_runs (job, status, window_end);
