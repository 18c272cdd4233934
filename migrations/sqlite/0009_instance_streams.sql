-- A job may hunt several instances (`instances:` in docs/jobs.md): each (job, instance) pair is
-- a stream with its own findings, coverage and gaps. Rows stored before this migration belong
-- to the job's one instance, the one `hunt_jobs` names.

-- Findings are keyed by instance too. SQLite cannot change a primary key: the table is
-- rebuilt (its view first, which names it).
drop view hunt_findings;

create table migrate_0009_finding_state (
    job text not null references hunt_jobs (name),
    instance text not null,
    row_hash text not null,
    first_seen_at text not null,
    last_seen_at text not null,
    first_run_id integer not null,
    last_run_id integer not null,
    last_row_num integer,
    times_seen integer not null,
    primary key (job, instance, row_hash)
) without rowid;

insert into migrate_0009_finding_state (job, instance, row_hash, first_seen_at, last_seen_at,
    first_run_id, last_run_id, last_row_num, times_seen)
select s.job, j.instance, s.row_hash, s.first_seen_at, s.last_seen_at, s.first_run_id,
       s.last_run_id, s.last_row_num, s.times_seen
from hunt_finding_state s
join hunt_jobs j on j.name = s.job;

drop table hunt_finding_state;
alter table migrate_0009_finding_state rename to hunt_finding_state;

create index hunt_finding_state_first_seen on hunt_finding_state (job, instance, first_seen_at);
create index hunt_finding_state_last_seen on hunt_finding_state (last_seen_at);

create view hunt_findings as
select s.job, s.instance, s.row_hash, s.first_seen_at, s.last_seen_at, s.first_run_id,
       s.last_run_id, s.times_seen, r.data
from hunt_finding_state s
left join hunt_results r on r.run_id = s.last_run_id and r.row_num = s.last_row_num;

-- Recorded gaps belong to a stream.
alter table hunt_gaps add column instance text not null default '';
update hunt_gaps set instance = (select j.instance from hunt_jobs j where j.name = hunt_gaps.job);
drop index hunt_gaps_job;
create index hunt_gaps_stream on hunt_gaps (job, instance, gap_start);

-- A claim reads its stream's running run and covered end.
drop index hunt_runs_job_status;
create index hunt_runs_stream_status on hunt_runs (job, instance, status, window_end);

-- Each stream's deliveries go out in its own run order.
drop index hunt_deliveries_pending;
create index hunt_deliveries_pending on hunt_deliveries (output, job, instance, id)
    where status = 'pending';

-- Typed views get an `instance` column: each is made again at its job's next run.
update hunt_jobs set view_sha256 = null;

drop view hunt_coverage_gaps;

create view hunt_coverage_gaps as
with bounds as (
    select job, instance,
           min(window_start) as first_start,
           max(case when status <> 'running' then window_end end) as last_end
    from hunt_runs
    group by job, instance
),
accounted as (
    select job, instance, window_start, window_end, 1 as is_run
    from hunt_runs
    where status in ('succeeded', 'skipped')
    union all
    select job, instance, gap_start, gap_end, 0
    from hunt_gaps
),
covered as (
    select job, instance, window_start, window_end, is_run,
           max(window_end) over (
               partition by job, instance order by window_start, window_end
               rows between unbounded preceding and 1 preceding
           ) as covered_until
    from accounted
),
ends as (
    select a.job, a.instance, max(a.window_end) as covered_until
    from accounted a
    join bounds b on b.job = a.job and b.instance = a.instance
    where a.window_start < b.last_end
    group by a.job, a.instance
)
select c.job as job,
       c.instance as instance,
       coalesce(c.covered_until, b.first_start) as gap_start,
       c.window_start as gap_end,
       'no succeeded run' as reason
from covered c
join bounds b on b.job = c.job and b.instance = c.instance
where c.is_run = 1 and c.window_start > coalesce(c.covered_until, b.first_start)
union all
select b.job, b.instance, coalesce(e.covered_until, b.first_start), b.last_end,
       'no succeeded run'
from bounds b
left join ends e on e.job = b.job and e.instance = b.instance
where b.last_end > coalesce(e.covered_until, b.first_start)
union all
select job, instance, window_start, window_end, coalesce(error_message, 'skipped')
from hunt_runs
where status = 'skipped'
union all
select job, instance, gap_start, gap_end, reason
from hunt_gaps;
