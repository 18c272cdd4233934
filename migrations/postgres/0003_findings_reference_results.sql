-- A finding no longer holds a second copy of its row: `hunt_finding_state` keeps the tracking
-- columns and points at the result row that last returned it, and `hunt_findings` becomes a view
-- with the same columns as before. A run's rows are written once instead of twice.
--
-- Retention keeps the pointer valid: a finding is pruned when its last run is (both use the
-- job's retention against the last run's finish time), and prune deletes findings first.

-- A job named `finding_state` had its typed view take the new table's name: rename that job's
-- view; the next run recreates it under `hunt_job_finding_state`.
drop view if exists hunt_finding_state;
update hunt_jobs set view_name = 'hunt_job_finding_state', view_sha256 = null
where view_name = 'hunt_finding_state';

-- No foreign keys on the two tables a run fills: PostgreSQL checks one with a trigger per row,
-- which doubled the time to write a run. huntd writes both only in the transaction that
-- finishes the run they belong to, after checking that run is still its own.
alter table hunt_results drop constraint hunt_results_run_id_fkey;

create table hunt_finding_state (
    job text not null,
    row_hash text not null,
    first_seen_at timestamptz not null,
    last_seen_at timestamptz not null,
    first_run_id bigint not null,
    last_run_id bigint not null,
    last_row_num bigint,
    times_seen bigint not null,
    primary key (job, row_hash)
);

-- Finds each finding's row in its last run without scanning the run once per finding.
create index hunt_results_migrate_0003 on hunt_results (run_id, row_hash);

insert into hunt_finding_state (job, row_hash, first_seen_at, last_seen_at, first_run_id,
    last_run_id, last_row_num, times_seen)
select f.job, f.row_hash, f.first_seen_at, f.last_seen_at, f.first_run_id, f.last_run_id,
       (select min(r.row_num) from hunt_results r
        where r.run_id = f.last_run_id and r.row_hash = f.row_hash),
       f.times_seen
from hunt_findings f;

drop index hunt_results_migrate_0003;
drop table hunt_findings;

create index hunt_finding_state_first_seen on hunt_finding_state (job, first_seen_at);
create index hunt_finding_state_last_seen on hunt_finding_state (last_seen_at);

-- A left join: a finding whose row an interrupted prune of an older huntd already deleted keeps
-- its history with a null `data` until the next prune removes it.
create view hunt_findings as
select s.job, s.row_hash, s.first_seen_at, s.last_seen_at, s.first_run_id, s.last_run_id,
       s.times_seen, r.data
from hunt_finding_state s
left join hunt_results r on r.run_id = s.last_run_id and r.row_num = s.last_row_num;
