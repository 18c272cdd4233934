-- What a run cost its tenant, so `huntd status` can show calls against each instance's quota and
-- the time spent waiting on throttling from the database alone, on any node. Null for runs
-- recorded before this migration and for runs that never reached the API.
alter table hunt_runs add column api_calls integer;
alter table hunt_runs add column throttle_wait_ms integer;
