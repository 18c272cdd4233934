-- Timestamps are UTC text in one fixed format (2024-05-01T08:00:00.000000Z) so that text order
-- is time order and `unique (job, slot_at)` compares like values.

create table hunt_jobs (
    name text primary key,
    instance text not null,
    definition text not null check (json_valid(definition)),
    query_sha256 text not null,
    enabled integer not null,
    dedup_columns text check (dedup_columns is null or json_valid(dedup_columns)),
    retention_seconds integer not null,
    view_name text not null unique,
    view_sha256 text,
    updated_at text not null
);

create table hunt_runs (
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
    unique (job, slot_at)
);

create index hunt_runs_lease on hunt_runs (status, lease_expires_at);
create index hunt_runs_started on hunt_runs (started_at);

create table hunt_results (
    run_id integer not null references hunt_runs (id),
    job text not null,
    row_num integer not null,
    row_hash text not null,
    data text not null,
    primary key (run_id, row_num)
);

create table hunt_findings (
    job text not null references hunt_jobs (name),
    row_hash text not null,
    first_seen_at text not null,
    last_seen_at text not null,
    first_run_id integer not null,
    last_run_id integer not null,
    times_seen integer not null,
    data text not null,
    primary key (job, row_hash)
);

create index hunt_findings_first_seen on hunt_findings (job, first_seen_at);
create index hunt_findings_last_seen on hunt_findings (last_seen_at);

create table hunt_columns (
    job text not null references hunt_jobs (name),
    query_sha256 text not null,
    position integer not null,
    name text not null,
    type text not null,
    primary key (job, query_sha256, position)
);

create table hunt_gaps (
    id integer primary key autoincrement,
    job text not null references hunt_jobs (name),
    gap_start text not null,
    gap_end text not null,
    reason text not null,
    recorded_at text not null
);

create index hunt_gaps_job on hunt_gaps (job, gap_start);

create view hunt_coverage_gaps as
with bounds as (
    select job,
           min(window_start) as first_start,
           max(case when status <> 'running' then window_end end) as last_end
    from hunt_runs
    group by job
),
covered as (
    select job, window_start, window_end,
           max(window_end) over (
               partition by job order by window_start, window_end
               rows between unbounded preceding and 1 preceding
           ) as covered_until
    from hunt_runs
    where status = 'succeeded'
),
ends as (
    select job, max(window_end) as covered_until from covered group by job
)
select c.job as job,
       coalesce(c.covered_until, b.first_start) as gap_start,
       c.window_start as gap_end,
       'no succeeded run' as reason
from covered c
join bounds b on b.job = c.job
where c.window_start > coalesce(c.covered_until, b.first_start)
union all
select b.job, coalesce(e.covered_until, b.first_start), b.last_end, 'no succeeded run'
from bounds b
left join ends e on e.job = b.job
where b.last_end > coalesce(e.covered_until, b.first_start)
union all
select job, gap_start, gap_end, reason
from hunt_gaps;
