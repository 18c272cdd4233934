-- The outbox: one row per notification a run's commit owes an output, written in the same
-- transaction as the run's findings, so a crash either loses both or keeps both. The delivery
-- loop claims rows under a lease and records how each attempt ended (docs/schema.md).
--
-- `run_id` has no foreign key: prune deletes runs past their retention, and a delivery is
-- history that retention removes on its own schedule.
create table hunt_deliveries (
    id integer primary key autoincrement,
    output text not null,
    job text not null references hunt_jobs (name),
    instance text not null,
    run_id integer not null,
    mode text not null check (mode in ('digest', 'each')),
    findings text not null check (json_valid(findings)),
    status text not null check (status in ('pending', 'delivered', 'dead')),
    attempts integer not null default 0,
    next_attempt_at text not null,
    lease_owner text,
    lease_expires_at text,
    last_error text,
    created_at text not null,
    queued_at text not null,
    delivered_at text
);

-- The claim looks for each output's and job's oldest pending delivery.
create index hunt_deliveries_pending on hunt_deliveries (output, job, id) where status = 'pending';
create index hunt_deliveries_created on hunt_deliveries (created_at);
