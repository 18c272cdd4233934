-- What started a run: `schedule` (the daemon's job loop), `manual` (`huntd once --store`) or
-- `backfill` (`huntd backfill`, `backfill_on_create`). A backfill chunk may start or end where
-- a scheduled slot does, so a slot is unique per trigger, and per instance for jobs that hunt
-- several.
alter table hunt_runs add column trigger text not null default 'schedule'
    check (trigger in ('schedule', 'manual', 'backfill'));
update hunt_runs set trigger = 'manual' where node like '%-once-%';
alter table hunt_runs drop constraint hunt_runs_job_slot_at_key;
alter table hunt_runs add constraint hunt_runs_slot unique (job, instance, trigger, slot_at);
