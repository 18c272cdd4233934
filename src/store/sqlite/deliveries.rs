//! SQLite's outbox SQL, which `outbox` runs: a claim under the write lock after a plain read
//! finds something due, lists bound as JSON arrays.

use crate::store::outbox::OutboxSql;

/// SQLite's outbox SQL.
pub(super) const OUTBOX: OutboxSql = OutboxSql {
    insert_digest: r"insert into hunt_deliveries (output, job, instance, run_id, mode, findings,
              status, attempts, next_attempt_at, created_at, queued_at)
          select ?4, ?1, ?5, ?3, 'digest',
              (select json_group_array(row_hash order by last_row_num, row_hash)
               from hunt_finding_state
               where job = ?1 and instance = ?5 and first_seen_at = ?2 and first_run_id = ?3),
              'pending', 0, ?2, ?2, ?2",
    insert_each: r"insert into hunt_deliveries (output, job, instance, run_id, mode, findings,
              status, attempts, next_attempt_at, created_at, queued_at)
          select ?4, ?1, ?5, ?3, 'each',
              json_array(row_hash), 'pending', 0, ?2, ?2, ?2
          from hunt_finding_state
          where job = ?1 and instance = ?5 and first_seen_at = ?2 and first_run_id = ?3
          order by last_row_num, row_hash",
    new_findings: r"select s.row_hash, r.data from hunt_finding_state s
          left join hunt_results r on r.run_id = s.last_run_id and r.row_num = s.last_row_num
          where s.job = ?1 and s.instance = ?4 and s.first_seen_at = ?2 and s.first_run_id = ?3
          order by s.last_row_num, s.row_hash",
    make_quiet: r"insert into hunt_suppressions (output, job, instance, key, quiet_until)
          select ?1, ?2, ?3, value, ?4 from json_each(?5) where true
          on conflict (output, job, instance, key) do update set quiet_until = excluded.quiet_until",
    insert_delivery: r"insert into hunt_deliveries (output, job, instance, run_id, mode, findings,
              suppressed, status, attempts, next_attempt_at, created_at, queued_at)
          values (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, ?8, ?8)",
    list: r"select id, output, job, instance, run_id, mode, findings, suppressed, status,
              attempts, next_attempt_at, lease_owner, lease_expires_at, last_error, created_at,
              queued_at, delivered_at
          from hunt_deliveries
          where (?1 is null or status = ?1) and (?2 is null or output = ?2)
          order by id desc
          limit coalesce(?3, -1)",
    retry: r"update hunt_deliveries
          set status = 'pending', next_attempt_at = ?1, queued_at = ?1,
              lease_expires_at = null, delivered_at = null
          where (?2 is null or id = ?2) and (not ?3 or status = 'dead')
              and (lease_expires_at is null or lease_expires_at < ?1)",
    // An idle outbox is the common case: a plain read finds it so without taking the
    // database's one write lock, which every committing run needs.
    any_due: Some(
        r"select exists (
              select 1 from hunt_deliveries
              where status = 'pending' and output in (select value from json_each(?1))
                  and next_attempt_at <= ?2
                  and (lease_expires_at is null or lease_expires_at < ?2))",
    ),
    // The write lock from the start: no other node claims between the read and the update.
    begin_claim: Some("begin immediate"),
    claim: r"update hunt_deliveries
          set lease_owner = ?1, lease_expires_at = ?2, attempts = attempts + 1
          where id in (
              select d.id from hunt_deliveries d
              where d.status = 'pending'
                  and d.output in (select value from json_each(?4))
                  and d.next_attempt_at <= ?3
                  and (d.lease_expires_at is null or d.lease_expires_at < ?3)
                  and not exists (
                      select 1 from hunt_deliveries e
                      where e.status = 'pending' and e.output = d.output
                          and e.job = d.job and e.instance = d.instance
                          and e.id < d.id)
              order by d.id
              limit ?5)
          returning id, output, job, instance, run_id, mode, findings, suppressed, status,
              attempts, next_attempt_at, lease_owner, lease_expires_at, last_error,
              created_at, queued_at, delivered_at",
    by_hash: r"select job, instance, row_hash, first_seen_at, last_seen_at, first_run_id,
              last_run_id, times_seen, data
          from hunt_findings
          where job = ?1 and instance = ?3 and row_hash in (select value from json_each(?2))
              and data is not null",
};
