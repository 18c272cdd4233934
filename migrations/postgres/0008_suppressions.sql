-- `suppress:` in a job's `notify:` (docs/outputs.md): the keys a notification made quiet and
-- until when, and how many findings each output left out since its last notification of a job
-- and instance, which that next notification reports.
alter table hunt_deliveries add column suppressed bigint not null default 0;

create table hunt_suppressions (
    output text not null,
    job text not null references hunt_jobs (name),
    instance text not null,
    key text not null,
    quiet_until timestamptz not null,
    primary key (output, job, instance, key)
);

create table hunt_suppressed_counts (
    output text not null,
    job text not null references hunt_jobs (name),
    instance text not null,
    suppressed bigint not null,
    primary key (output, job, instance)
);
