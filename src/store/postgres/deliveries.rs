//! PostgreSQL's outbox SQL, which `outbox` runs: claims lock their rows with `for update skip
//! locked`, so nodes sharing the database never wait on each other's claims and never claim the
//! same delivery; lists are bound as arrays.

use crate::store::outbox::OutboxSql;

/// PostgreSQL's outbox SQL.
pub(super) const OUTBOX: OutboxSql = OutboxSql {
    insert_digest: r"insert into hunt_deliveries (output, job, instance, run_id, mode, findings,
              status, attempts, next_attempt_at, created_at, queued_at)
          select $4, $1, $5, $3, 'digest',
              (select coalesce(jsonb_agg(row_hash order by last_row_num, row_hash), '[]'::jsonb)
               from hunt_finding_state
               where job = $1 and instance = $5 and first_seen_at = $2 and first_run_id = $3),
              'pending', 0, $2, $2, $2",
    insert_each: r"insert into hunt_deliveries (output, job, instance, run_id, mode, findings,
              status, attempts, next_attempt_at, created_at, queued_at)
          select $4, $1, $5, $3, 'each',
              jsonb_build_array(row_hash), 'pending', 0, $2, $2, $2
          from hunt_finding_state
          where job = $1 and instance = $5 and first_seen_at = $2 and first_run_id = $3
          order by last_row_num, row_hash",
    new_findings: r"select s.row_hash, r.data::text from hunt_finding_state s
          left join hunt_results r on r.run_id = s.last_run_id and r.row_num = s.last_row_num
          where s.job = $1 and s.instance = $4 and s.first_seen_at = $2 and s.first_run_id = $3
          order by s.last_row_num, s.row_hash",
    make_quiet: r"insert into hunt_suppressions (output, job, instance, key, quiet_until)
          select $1, $2, $3, k, $4 from jsonb_array_elements_text($5::jsonb) as k
          on conflict (output, job, instance, key) do update set quiet_until = excluded.quiet_until",
    insert_delivery: r"insert into hunt_deliveries (output, job, instance, run_id, mode, findings,
              suppressed, status, attempts, next_attempt_at, created_at, queued_at)
          values ($1, $2, $3, $4, $5, $6::jsonb, $7, 'pending', 0, $8, $8, $8)",
    list: r"select id, output, job, instance, run_id, mode, findings::text as findings,
              suppressed, status, attempts, next_attempt_at, lease_owner, lease_expires_at,
              last_error, created_at, queued_at, delivered_at
          from hunt_deliveries
          where ($1::text is null or status = $1) and ($2::text is null or output = $2)
          order by id desc
          limit $3",
    retry: r"update hunt_deliveries
          set status = 'pending', next_attempt_at = $1, queued_at = $1,
              lease_expires_at = null, delivered_at = null
          where ($2::bigint is null or id = $2) and (not $3 or status = 'dead')
              and (lease_expires_at is null or lease_expires_at < $1)",
    any_due: None,
    begin_claim: None,
    // `heads` is each output's and job's oldest pending delivery; a head another node is
    // claiming right now is skipped, not waited for, and one it has claimed no longer
    // qualifies once its lock is released (the conditions are checked again on the row).
    claim: r"with heads as (
              select distinct on (output, job, instance) id
              from hunt_deliveries
              where status = 'pending' and output = any($4)
              order by output, job, instance, id
          ),
          due as (
              select d.id from hunt_deliveries d
              join heads h on h.id = d.id
              where d.status = 'pending' and d.next_attempt_at <= $3
                  and (d.lease_expires_at is null or d.lease_expires_at < $3)
              order by d.id
              limit $5
              for update of d skip locked
          )
          update hunt_deliveries d
          set lease_owner = $1, lease_expires_at = $2, attempts = d.attempts + 1
          from due
          where d.id = due.id
          returning d.id, d.output, d.job, d.instance, d.run_id, d.mode,
              d.findings::text as findings, d.suppressed, d.status, d.attempts,
              d.next_attempt_at, d.lease_owner, d.lease_expires_at, d.last_error,
              d.created_at, d.queued_at, d.delivered_at",
    by_hash: r"select job, instance, row_hash, first_seen_at, last_seen_at, first_run_id,
              last_run_id, times_seen, data::text as data
          from hunt_findings
          where job = $1 and instance = $3 and row_hash = any($2) and data is not null",
};
