//! The per-job loop: wait for the next slot, plan its windows, and hand them in order to the
//! [`worker`], which claims and runs each; the loop itself never hunts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_channel::mpsc;
use futures_util::StreamExt as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::context::{Context, JobSpec};
use super::window::{self, MAX_DATA_AGE, PlannedGap, WindowSettings, delta};
use super::worker::{self, Outcome};
use crate::backoff::Backoff;
use crate::jobs::{CatchUp, Job};
use crate::schedule::Schedule;
use crate::store::{GapRecord, HistoryFilter, Lease};

/// Most slots (for `catch_up: all`, merged runs) one scheduling step takes; a longer backlog is
/// worked off step by step.
const MAX_DUE_SLOTS: usize = 1000;

/// Counts a job in [`Context::backing_off`] while it is held, so the count stays right however
/// the job's loop ends.
#[derive(Debug)]
struct BackingOff<'a>(&'a AtomicUsize);

impl<'a> BackingOff<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for BackingOff<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where a job's loop reads the time and waits for its next slot.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system clock, with tokio timers for the waits.
    #[default]
    System,
    /// Moved by hand, so a test drives a loop over hours of slots while its runs (HTTP, the
    /// database) keep real time; tokio's paused clock would fire their timeouts early.
    #[cfg(test)]
    Manual(tests::ManualClock),
}

impl Clock {
    fn now(&self) -> DateTime<Utc> {
        match self {
            Self::System => Utc::now(),
            #[cfg(test)]
            Self::Manual(clock) => clock.now(),
        }
    }

    /// Returns at `wake`; never when it is `None`.
    async fn sleep_until(&self, wake: Option<DateTime<Utc>>) {
        match self {
            Self::System => {
                let sleep = wake.map_or(Duration::MAX, |wake| {
                    (wake - Utc::now()).to_std().unwrap_or(Duration::ZERO)
                });
                tokio::time::sleep(sleep).await;
            }
            #[cfg(test)]
            Self::Manual(clock) => clock.sleep_until(wake).await,
        }
    }
}

/// A running job loop.
#[derive(Debug)]
pub struct JobHandle {
    /// The job it runs, to tell on reload whether it changed.
    pub spec: Arc<JobSpec>,
    /// Cancel to stop claiming new slots (a run in flight finishes).
    pub stop: CancellationToken,
    /// Leases taken over from dead nodes, to run between slots. A futures channel, not a
    /// tokio one: tokio allocates a 32-slot block per channel up front, 3 KB for every job.
    pub takeovers: mpsc::UnboundedSender<Lease>,
    /// The loop's task.
    pub task: JoinHandle<()>,
}

/// Starts a job's loop; it waits for `predecessor` (the same job's previous loop) to end
/// first, so a reload never runs a job twice at once.
pub fn spawn(
    ctx: Arc<Context>,
    spec: JobSpec,
    stop: CancellationToken,
    predecessor: Option<JoinHandle<()>>,
) -> JobHandle {
    let (takeovers, receiver) = mpsc::unbounded();
    let task_stop = stop.clone();
    let spec = Arc::new(spec);
    let task_spec = Arc::clone(&spec);
    let task = tokio::spawn(async move {
        if let Some(previous) = predecessor {
            let _ = previous.await;
        }
        job_loop(ctx, task_spec, task_stop, receiver, Clock::System).await;
    });
    JobHandle {
        spec,
        stop,
        takeovers,
        task,
    }
}

/// Fire times strictly after `cursor` and at or before `until`, oldest first, at most `cap`.
pub fn due_slots(
    schedule: &Schedule,
    cursor: DateTime<Utc>,
    until: DateTime<Utc>,
    cap: usize,
) -> Vec<DateTime<Utc>> {
    fire_times(schedule, cursor, until).take(cap).collect()
}

/// Fire times strictly after `cursor` and at or before `until`, oldest first, as they are read.
fn fire_times(
    schedule: &Schedule,
    cursor: DateTime<Utc>,
    until: DateTime<Utc>,
) -> impl Iterator<Item = DateTime<Utc>> + '_ {
    std::iter::successors(schedule.next_after(cursor), |&at| schedule.next_after(at))
        .take_while(move |&at| at <= until)
}

/// The slots a job's loop handles next: for `catch_up: all` the due slots merged into runs of
/// up to `max_window` ([`window::merge_slots`]), counted from the window of the slot at
/// `cursor`; the cap then counts runs, so it never cuts a fast schedule's catch-up into windows
/// shorter than `max_window`. Otherwise the due slots, at most `cap`.
pub fn next_slots(
    schedule: &Schedule,
    settings: &WindowSettings,
    cursor: DateTime<Utc>,
    until: DateTime<Utc>,
    cap: usize,
) -> Vec<DateTime<Utc>> {
    match settings.catch_up {
        CatchUp::All => {
            let from = cursor - delta(settings.delay);
            window::merge_slots(fire_times(schedule, cursor, until), from, settings, cap)
        }
        CatchUp::Latest | CatchUp::Skip => due_slots(schedule, cursor, until, cap),
    }
}

/// Where a job resumes: coverage start when it has no succeeded run yet, and the last slot
/// already handled.
async fn resume_point(
    ctx: &Context,
    job: &Job,
    instance: &str,
    now: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, DateTime<Utc>) {
    let floor = now - delta(MAX_DATA_AGE);
    match ctx.store.high_water_mark(&job.name, instance).await {
        Ok(Some(hwm)) => return (None, (hwm + delta(job.delay)).max(floor)),
        Ok(None) => {}
        Err(e) => warn!(job = %job.name, error = %e, "cannot read the high-water mark"),
    }
    // No success yet: the earliest attempt's window is where coverage must start.
    let filter = HistoryFilter {
        job: Some(job.name.clone()),
        instance: Some(instance.to_string()),
        ..HistoryFilter::default()
    };
    match ctx.store.history(&filter).await {
        Ok(runs) => match runs.last() {
            Some(first) => (
                Some(first.window_start),
                (first.slot_at - TimeDelta::milliseconds(1)).max(floor),
            ),
            None => (None, now),
        },
        Err(e) => {
            warn!(job = %job.name, error = %e, "cannot read the run history");
            (None, now)
        }
    }
}

/// A job's backoff after repeated failures, and whether it pauses the job now.
#[derive(Debug, Default)]
struct Pacing<'a> {
    backoff: Backoff,
    paused_until: Option<DateTime<Utc>>,
    counted: Option<BackingOff<'a>>,
}

impl<'a> Pacing<'a> {
    /// When the job's pause ends, if it is paused at `now`.
    fn paused_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.paused_until.filter(|until| now < *until)
    }

    fn succeeded(&mut self) {
        self.backoff.succeeded();
        self.paused_until = None;
        self.counted = None;
    }

    /// Counts a failure at `now`; enough of them pause the job and count it in `backing_off`.
    fn failed(
        &mut self,
        job: &str,
        non_retryable: bool,
        now: DateTime<Utc>,
        backing_off: &'a AtomicUsize,
    ) {
        self.backoff.failed(non_retryable);
        if let Some(pause) = self.backoff.pause() {
            self.paused_until = Some(now + delta(pause));
            self.counted
                .get_or_insert_with(|| BackingOff::new(backing_off));
            warn!(job = %job, failures = self.backoff.failures(), pause = ?pause, "job backs off");
        }
    }
}

/// Logs and stores the coverage gaps a plan found.
async fn record_gaps(ctx: &Context, spec: &JobSpec, gaps: &[PlannedGap], now: DateTime<Utc>) {
    let job = &spec.job;
    for gap in gaps {
        let record = GapRecord {
            job: job.name.clone(),
            instance: spec.instance.name.clone(),
            gap_start: gap.start,
            gap_end: gap.end,
            reason: gap.reason.to_string(),
            recorded_at: now,
        };
        warn!(job = %job.name, start = %gap.start, end = %gap.end, reason = gap.reason, "coverage gap");
        if let Err(e) = ctx.store.record_gap(&record).await {
            warn!(job = %job.name, error = %e, "cannot record a coverage gap");
        }
    }
}

/// Runs a slot this node took over from a dead node, for the job's loop.
async fn run_taken_over(
    ctx: &Arc<Context>,
    spec: &Arc<JobSpec>,
    lease: Lease,
    stop: &CancellationToken,
) {
    info!(job = %spec.job.name, run_id = lease.run_id, "running a slot taken over from a dead node");
    // Boxed: an idle loop then stays small, which matters with thousands of jobs.
    Box::pin(worker::run_taken_over(ctx, spec, lease, stop)).await;
}

/// One stream's loop until `stop`; then the leases taken over for it that it never received
/// are given back, so that none is left `running` by a node that stopped cleanly.
async fn job_loop(
    ctx: Arc<Context>,
    spec: Arc<JobSpec>,
    stop: CancellationToken,
    mut takeovers: mpsc::UnboundedReceiver<Lease>,
    clock: Clock,
) {
    plan_and_run(&ctx, &spec, &stop, &mut takeovers, clock).await;
    // Closed first, so that a lease routed from now on comes back to the sender instead.
    takeovers.close();
    while let Ok(lease) = takeovers.try_recv() {
        worker::give_back(
            &ctx.store,
            &lease,
            "huntd stopped before the taken-over run started",
        )
        .await;
    }
}

/// Plans the stream's slots and runs them, and the runs taken over for it, until `stop`.
async fn plan_and_run(
    ctx: &Arc<Context>,
    spec: &Arc<JobSpec>,
    stop: &CancellationToken,
    takeovers: &mut mpsc::UnboundedReceiver<Lease>,
    clock: Clock,
) {
    let job = &spec.job;
    let offset = spec.offset;
    let instance = spec.instance.name.as_str();
    let settings = WindowSettings::of(job);
    let (floor, mut cursor) = {
        let _permit = ctx
            .resume_lookups
            .acquire()
            .await
            .expect("the semaphore lives in the context and is never closed");
        resume_point(ctx, job, instance, clock.now()).await
    };
    let mut pacing = Pacing::default();
    loop {
        if stop.is_cancelled() {
            return;
        }
        // Taken-over runs go first: with a backlog of slots, the loop may not idle for long.
        while let Ok(lease) = takeovers.try_recv() {
            run_taken_over(ctx, spec, lease, stop).await;
        }
        let now = clock.now();
        let until = now - delta(offset);
        let due = next_slots(&job.schedule, &settings, cursor, until, MAX_DUE_SLOTS);
        let Some((&slot, missed)) = due.split_last() else {
            let wake = job
                .schedule
                .next_after(cursor)
                .map(|next| next + delta(offset));
            tokio::select! {
                () = stop.cancelled() => return,
                Some(lease) = takeovers.next() => run_taken_over(ctx, spec, lease, stop).await,
                () = clock.sleep_until(wake) => {}
            }
            continue;
        };
        cursor = slot;
        if let Some(until) = pacing.paused_at(now) {
            warn!(job = %job.name, %slot, failures = pacing.backoff.failures(), %until, "backing off after repeated failures: slot not run");
            continue;
        }
        let covered = match ctx.store.high_water_mark(&job.name, instance).await {
            Ok(hwm) => hwm.or(floor),
            Err(e) => {
                warn!(job = %job.name, error = %e, "cannot read the high-water mark: slot not run");
                continue;
            }
        };
        let plan = window::plan(&settings, covered, missed, slot, now);
        record_gaps(ctx, spec, &plan.gaps, now).await;
        if let Some(skipped) = plan.skipped {
            worker::record_skipped(ctx, spec, skipped).await;
        }
        for planned in plan.runs {
            match Box::pin(worker::claim_and_run(ctx, spec, planned, stop)).await {
                Outcome::Succeeded => pacing.succeeded(),
                Outcome::NotOurs => {}
                Outcome::Failed { non_retryable } => {
                    pacing.failed(&job.name, non_retryable, clock.now(), &ctx.backing_off);
                    // The next slot's window starts at the high-water mark and makes this good.
                    break;
                }
                Outcome::Interrupted | Outcome::Stopped => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use async_trait::async_trait;
    use tokio::sync::watch;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    use super::*;
    use crate::auth::{self, AccessToken, Resource, TokenSource};
    use crate::config::{Cloud, Credential, Endpoints, Instance, Secret, SecretSource};
    use crate::diagnostic::Diagnostics;
    use crate::hunt::{Hunter, HunterOptions};
    use crate::store::RunStatus;
    use crate::testing::utc as t;

    /// A clock the test sets; each wait the loop starts is reported on `waits`.
    #[derive(Debug, Clone)]
    pub struct ManualClock {
        now: watch::Receiver<DateTime<Utc>>,
        waits: tokio::sync::mpsc::UnboundedSender<Option<DateTime<Utc>>>,
    }

    impl ManualClock {
        pub fn now(&self) -> DateTime<Utc> {
            *self.now.borrow()
        }

        pub async fn sleep_until(&self, wake: Option<DateTime<Utc>>) {
            let _ = self.waits.send(wake);
            let mut now = self.now.clone();
            let woken = now
                .wait_for(|now| wake.is_some_and(|wake| *now >= wake))
                .await
                .is_ok();
            if !woken {
                std::future::pending::<()>().await;
            }
        }
    }

    #[derive(Debug)]
    struct FixedToken;

    #[async_trait]
    impl TokenSource for FixedToken {
        async fn token(&self, _: &Instance, _: Resource) -> auth::Result<AccessToken> {
            Ok(AccessToken {
                token: Secret::new("t"),
                expires_at: Utc::now() + TimeDelta::days(1),
            })
        }

        async fn invalidate(&self, _: &Instance, _: Resource) {}
    }

    /// Answers hunts with no rows, or rejects the query (a non-retryable class) when `reject`.
    #[derive(Debug, Clone, Default)]
    struct Hunts {
        reject: Arc<AtomicBool>,
    }

    impl Respond for Hunts {
        fn respond(&self, _: &Request) -> ResponseTemplate {
            if self.reject.load(Ordering::SeqCst) {
                return ResponseTemplate::new(400).set_body_json(serde_json::json!({
                    "error": {"code": "BadRequest", "message": "Query could not be parsed"}
                }));
            }
            ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "schema": [{"name": "a", "type": "String"}], "results": []
            }))
        }
    }

    fn instance(base: &str) -> Instance {
        Instance {
            name: "Fake".into(),
            tenant_id: "00000000-0000-0000-0000-000000000001".into(),
            client_id: "00000000-0000-0000-0000-000000000002".into(),
            credential: Credential::ClientSecret(SecretSource::Plain(Secret::new("s"))),
            cloud: Cloud::Global,
            endpoints: Endpoints {
                login: base.to_string(),
                graph: base.to_string(),
                mde: base.to_string(),
                keyvault: base.to_string(),
                monitor: base.to_string(),
            },
            quota: None,
            ca_file: None,
            allow_overcommit: false,
            mde_retirement_noticed: false,
            tags: Vec::new(),
            source: "huntd.yaml".into(),
        }
    }

    /// The context of node `n`: one run at a time, a minute's lease, a fixed token.
    fn context(store: &Arc<dyn crate::store::Store>) -> Arc<Context> {
        Arc::new(Context::new(
            Arc::clone(store),
            Hunter::new(Arc::new(FixedToken), HunterOptions::default()),
            "n".into(),
            1,
            Duration::from_secs(60),
            CancellationToken::new(),
        ))
    }

    fn job(dir: &std::path::Path) -> Job {
        let file = dir.join("probe.yaml");
        std::fs::write(
            &file,
            "name: probe\ninstance: Fake\nenvironment: M365DGraph\nevery: 30s\n\
             lookback: 30s\ndelay: 0s\nquery: \"print start = datetime({start})\"\n",
        )
        .expect("write job");
        let mut diags = Diagnostics::new();
        let instances = crate::jobs::InstanceTags::from([("Fake".to_string(), Vec::new())]);
        let mut jobs = crate::jobs::load(
            &[file],
            &crate::jobs::Library::default(),
            &instances,
            &mut diags,
        );
        assert!(!diags.has_errors(), "{diags:?}");
        jobs.pop().expect("one job")
    }

    /// The loop over its first 30-second slots, then over 20 hours of a rejected query: slots
    /// fire on time, a failed window is made good by the next run, and the backoff doubles
    /// from a minute up to its six-hour cap.
    #[tokio::test]
    async fn job_loop_fires_slots_on_time_makes_failed_windows_good_and_caps_its_backoff() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("huntd.db").display());
        let store = crate::store::open(&url).await.expect("store opens");
        let server = MockServer::start().await;
        let hunts = Hunts::default();
        Mock::given(method("POST"))
            .and(path("/v1.0/security/runHuntingQuery"))
            .respond_with(hunts.clone())
            .mount(&server)
            .await;
        let (spec, record) = JobSpec::new(
            job(dir.path()),
            Arc::new(instance(&server.uri())),
            Duration::ZERO,
        );
        let spec = Arc::new(spec);
        store.upsert_job(&record).await.expect("register");
        let ctx = context(&store);
        let start = t("2026-01-05T00:00:10Z");
        let (set_now, now) = watch::channel(start);
        let (waits, mut waited) = tokio::sync::mpsc::unbounded_channel();
        let clock = Clock::Manual(ManualClock { now, waits });
        let stop = CancellationToken::new();
        let (_takeovers, receiver) = mpsc::unbounded();
        let task = tokio::spawn(job_loop(
            Arc::clone(&ctx),
            Arc::clone(&spec),
            stop.clone(),
            receiver,
            clock,
        ));

        // Moves the clock to where the loop waits and returns the slot it then handled,
        // once the loop waits again: always for the very next slot.
        let mut wake = waited.recv().await.flatten().expect("a first wait");
        assert_eq!(
            wake,
            t("2026-01-05T00:00:30Z"),
            "the first slot after start"
        );
        let mut step = async || {
            let slot = wake;
            set_now.send(slot).expect("the loop listens");
            wake = waited.recv().await.flatten().expect("a next wait");
            assert_eq!(
                wake,
                slot + TimeDelta::seconds(30),
                "waits for the next slot"
            );
            slot
        };
        step().await;
        hunts.reject.store(true, Ordering::SeqCst);
        step().await;
        hunts.reject.store(false, Ordering::SeqCst);
        step().await;
        hunts.reject.store(true, Ordering::SeqCst);
        let until = t("2026-01-05T21:00:00Z");
        while step().await < until {}
        stop.cancel();
        set_now
            .send(until + TimeDelta::hours(1))
            .expect("the loop listens");
        task.await.expect("the loop ends");

        let mut runs = store
            .history(&HistoryFilter::default())
            .await
            .expect("history");
        runs.reverse();
        let seen: Vec<_> = runs
            .iter()
            .map(|r| (r.slot_at, r.status, r.window_start, r.window_end))
            .collect();
        let expected = expected_runs(until);
        assert_eq!(seen, expected);
    }

    /// A lease taken over for a stream whose loop stops before receiving it is given back as
    /// `interrupted`, not left `running` by a node that stopped cleanly; one routed after that
    /// comes back to the sender.
    #[tokio::test]
    async fn a_taken_over_lease_still_queued_when_the_loop_stops_is_given_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("huntd.db").display());
        let store = crate::store::open(&url).await.expect("store opens");
        let (spec, record) = JobSpec::new(
            job(dir.path()),
            Arc::new(instance("http://127.0.0.1:9")),
            Duration::ZERO,
        );
        store.upsert_job(&record).await.expect("register");
        let now = t("2026-01-05T00:00:30Z");
        let request = crate::store::ClaimRequest {
            job: spec.job.name.clone(),
            instance: spec.instance.name.clone(),
            slot_at: now,
            window_start: now - TimeDelta::seconds(30),
            window_end: now,
            node: "n".into(),
            lease_until: now + TimeDelta::minutes(1),
            now,
            query_sha256: spec.query_sha256.clone(),
            trigger: crate::store::Trigger::Schedule,
        };
        let Ok(crate::store::Claim::Won(lease)) = store.claim_slot(&request).await else {
            panic!("the slot is free");
        };
        let ctx = context(&store);
        let (takeovers, receiver) = mpsc::unbounded();
        takeovers
            .unbounded_send(lease.clone())
            .expect("the loop's channel is open");
        let stop = CancellationToken::new();
        stop.cancel();
        job_loop(ctx, Arc::new(spec), stop, receiver, Clock::System).await;

        let runs = store
            .history(&HistoryFilter::default())
            .await
            .expect("history");
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].status, RunStatus::Interrupted);
        assert!(
            takeovers.unbounded_send(lease).is_err(),
            "the channel is closed"
        );
    }

    /// A run as the job loop test checks it: slot, status, window start and end.
    type RunSeen = (DateTime<Utc>, RunStatus, DateTime<Utc>, DateTime<Utc>);

    /// The runs the job loop test must leave: its first slots, then the rejected query's
    /// failures, the backoff doubling up to its cap until `until`.
    fn expected_runs(until: DateTime<Utc>) -> Vec<RunSeen> {
        let at = |text: &str| t(&format!("2026-01-05T{text}Z"));
        let ok = RunStatus::Succeeded;
        let failed = RunStatus::Failed;
        let mut expected = vec![
            (at("00:00:30"), ok, at("00:00:00"), at("00:00:30")),
            (at("00:01:00"), failed, at("00:00:30"), at("00:01:00")),
            // The failed window is part of the next one.
            (at("00:01:30"), ok, at("00:00:30"), at("00:01:30")),
        ];
        // Rejected from here on: three failures in a row, then pauses of 1, 2, 4, ... minutes,
        // capped at six hours.
        let mut slot = at("00:02:00");
        for failures in 1..=14 {
            expected.push((slot, failed, at("00:01:30"), slot));
            let pause = match failures {
                1 | 2 => TimeDelta::seconds(30),
                n => TimeDelta::minutes(1 << (n - 3)).min(TimeDelta::hours(6)),
            };
            slot += pause;
        }
        assert!(slot > until, "the cap was reached and held twice");
        expected
    }

    #[test]
    fn due_slots_lists_missed_fire_times_oldest_first_and_caps_them() {
        let schedule = Schedule::cron("0 * * * *", chrono_tz::UTC).expect("valid cron");
        let due = due_slots(
            &schedule,
            t("2024-03-10T09:00:00Z"),
            t("2024-03-10T12:30:00Z"),
            10,
        );
        assert_eq!(
            due,
            [
                t("2024-03-10T10:00:00Z"),
                t("2024-03-10T11:00:00Z"),
                t("2024-03-10T12:00:00Z")
            ]
        );
        assert_eq!(
            due_slots(
                &schedule,
                t("2024-03-10T09:00:00Z"),
                t("2024-03-10T12:30:00Z"),
                2
            )
            .len(),
            2
        );
    }

    #[test]
    fn next_slots_of_catch_up_all_merge_a_fast_backlog_and_cap_the_runs() {
        let schedule = Schedule::every(Duration::from_secs(10), chrono_tz::UTC).expect("valid");
        let settings = WindowSettings {
            lookback: Duration::from_secs(3600),
            delay: Duration::ZERO,
            max_window: Duration::from_secs(3600),
            catch_up: CatchUp::All,
        };
        let (cursor, until) = (t("2024-03-10T09:00:00Z"), t("2024-03-10T12:00:05Z"));
        let hourly = [
            t("2024-03-10T10:00:00Z"),
            t("2024-03-10T11:00:00Z"),
            t("2024-03-10T12:00:00Z"),
        ];
        assert_eq!(next_slots(&schedule, &settings, cursor, until, 10), hourly);
        assert_eq!(
            next_slots(&schedule, &settings, cursor, until, 2),
            hourly[..2]
        );
        let latest = WindowSettings {
            catch_up: CatchUp::Latest,
            ..settings
        };
        assert_eq!(next_slots(&schedule, &latest, cursor, until, 5).len(), 5);
    }

    /// Up to ten slots of `schedule` due from `from` until `until`.
    fn due_in(schedule: &Schedule, from: &str, until: &str) -> Vec<DateTime<Utc>> {
        due_slots(schedule, t(from), t(until), 10)
    }

    #[test]
    fn fire_times_follow_dst_in_the_jobs_zone() {
        // Amsterdam springs forward on 2024-03-31 02:00 -> 03:00; 02:30 runs right after the gap.
        let ams = Schedule::cron("30 2 * * *", chrono_tz::Europe::Amsterdam).expect("valid cron");
        let due = due_in(&ams, "2024-03-30T00:00:00Z", "2024-04-01T12:00:00Z");
        assert_eq!(
            due,
            [
                t("2024-03-30T01:30:00Z"),
                t("2024-03-31T01:00:00Z"),
                t("2024-04-01T00:30:00Z")
            ]
        );
        // New York falls back on 2024-11-03 02:00 -> 01:00; 01:30 runs once.
        let ny = Schedule::cron("30 1 * * *", chrono_tz::America::New_York).expect("valid cron");
        let due = due_in(&ny, "2024-11-02T12:00:00Z", "2024-11-04T12:00:00Z");
        assert_eq!(due, [t("2024-11-03T05:30:00Z"), t("2024-11-04T06:30:00Z")]);
    }
}
