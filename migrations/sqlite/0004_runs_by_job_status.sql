-- Every claim reads whether the job has a run `running` and the latest window_end of its
-- succeeded and skipped runs, under the job's lock: this index answers both without a scan
-- of the job's history.
create index hunt_runs_job_status on hunt_runs (job, status, window_end);
