-- `catch_up: skip` is now a `skipped` run instead of a hunt_gaps row. The view lists a skipped
-- run's window with its reason; a span is listed once: succeeded and skipped runs and
-- recorded gaps all count as accounted for when looking for spans no run covered, and a
-- recorded gap (e.g. data older than 30 days) no longer shows up a second time as
-- "no succeeded run".
drop view hunt_coverage_gaps;

create view hunt_coverage_gaps as
with bounds as (
    select job,
           min(window_start) as first_start,
           max(case when status <> 'running' then window_end end) as last_end
    from hunt_runs
    group by job
),
accounted as (
    select job, window_start, window_end, 1 as is_run
    from hunt_runs
    where status in ('succeeded', 'skipped')
    union all
    select job, gap_start, gap_end, 0
    from hunt_gaps
),
covered as (
    select job, window_start, window_end, is_run,
           max(window_end) over (
               partition by job order by window_start, window_end
               rows between unbounded preceding and 1 preceding
           ) as covered_until
    from accounted
),
ends as (
    select a.job, max(a.window_end) as covered_until
    from accounted a
    join bounds b on b.job = a.job
    where a.window_start < b.last_end
    group by a.job
)
select c.job as job,
       coalesce(c.covered_until, b.first_start) as gap_start,
       c.window_start as gap_end,
       'no succeeded run' as reason
from covered c
join bounds b on b.job = c.job
where c.is_run = 1 and c.window_start > coalesce(c.covered_until, b.first_start)
union all
select b.job, coalesce(e.covered_until, b.first_start), b.last_end, 'no succeeded run'
from bounds b
left join ends e on e.job = b.job
where b.last_end > coalesce(e.covered_until, b.first_start)
union all
select job, window_start, window_end, coalesce(error_message, 'skipped')
from hunt_runs
where status = 'skipped'
union all
select job, gap_start, gap_end, reason
from hunt_gaps;
