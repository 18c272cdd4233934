//! The status page at `/` on `daemon.metrics_listen`: the same status as `huntd status`, as one
//! server-rendered HTML page with inline CSS and SVG. No script and nothing fetched from
//! elsewhere, so it works on an air-gapped host and under a strict content security policy.
//! maud escapes every value it prints, so a job name or error message cannot inject markup.

use chrono::{DateTime, TimeDelta, Utc};
use maud::{DOCTYPE, Markup, html};

use crate::status::text::{ago, backoff, millis, next_fire, span, time};
use crate::status::{
    Coverage, Delivery, InstanceStatus, JobStatus, Segment, Status, TIMELINE_SPAN,
};

/// Width of a timeline in SVG user units; it scales with the page.
const TIMELINE_WIDTH: f64 = 1000.0;
/// Height of one timeline bar.
const TIMELINE_HEIGHT: u32 = 18;
/// The narrowest bar drawn, in user units, so a short window stays visible.
const MIN_BAR_WIDTH: f64 = 2.0;

/// Colours and layout; the colours of the four coverage kinds match the legend.
const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d232b;background:#fff}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.6em 0 .5em}
table{border-collapse:collapse}th,td{padding:.25em .7em;text-align:left;border-bottom:1px solid #dde1e6;vertical-align:top}
th{background:#f2f4f7}td.num{text-align:right}
.meta{color:#5b6470}.msg{font-family:ui-monospace,monospace;white-space:pre-wrap;max-width:60em}
.timeline{display:grid;grid-template-columns:max-content 3fr 2fr;gap:.3em 1em;align-items:center}
.timeline svg{width:100%;height:18px;background:#eef0f3}
.tick{stroke:#fff;stroke-width:1;vector-effect:non-scaling-stroke;opacity:.7}
.covered{fill:#2e9d5b}.failed{fill:#d1453b}.skipped{fill:#e0a526}.gap{fill:#7d8590}
.legend span{display:inline-block;margin-right:1.2em}
.legend svg{width:12px;height:12px;vertical-align:-1px;margin-right:.3em}
.bad{color:#b3261e}.ok{color:#1e7a45}
";

/// The whole page.
pub fn render(status: &Status) -> String {
    let now = status.generated_at;
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "huntd status" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                h1 { "huntd status" }
                p.meta {
                    "Read from the database at " (time(now)) ". "
                    "Backoff is derived from stored runs. "
                    a href="/metrics" { "Prometheus metrics" } " · "
                    a href="/healthz" { "health" }
                }
                h2 { "Jobs" }
                (jobs_table(&status.jobs, now))
                h2 { "Coverage, last 7 days" }
                (legend())
                (timelines(&status.jobs, now))
                h2 { "Instances, last hour" }
                (instances_table(&status.instances))
                h2 { "Recent failures" }
                (failures(status))
                h2 { "Delivery backlog" }
                p {
                    @match status.delivery {
                        Delivery::NoOutputs => "None: huntd has no outputs yet.",
                    }
                }
            }
        }
    }
    .into_string()
}

/// A page saying the status cannot be read now, and why (a store error never holds a password:
/// URLs in it are shown without one).
pub fn unavailable(why: &str) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "huntd status" } }
            body {
                h1 { "huntd status" }
                p { "The status cannot be read now: " (why) }
                p { a href="/metrics" { "Prometheus metrics" } " · " a href="/healthz" { "health" } }
            }
        }
    }
    .into_string()
}

fn jobs_table(jobs: &[JobStatus], now: DateTime<Utc>) -> Markup {
    html! {
        @if jobs.is_empty() {
            p { "No jobs loaded or in the database." }
        } @else {
            table #jobs {
                thead { tr {
                    th { "Job" } th { "Instance" } th { "Last run" } th { "Outcome" }
                    th { "Next fire" } th { "Backoff" } th { "Runs 24 h" } th { "Rows 24 h" }
                    th { "New findings 24 h" } th { "Gaps 7 d" }
                } }
                tbody {
                    @for job in jobs {
                        tr data-job=(job.name) {
                            td { (job.name) }
                            td { (job.instance) }
                            @match &job.last_run {
                                Some(run) => {
                                    td title=(time(run.started_at)) { (ago(run.started_at, now)) }
                                    td class=(if run.status.as_str() == "succeeded" { "ok" } else { "bad" }) {
                                        (run.status)
                                        @if let Some(class) = &run.error_class { " (" (class) ")" }
                                    }
                                }
                                None => { td { "never" } td { "-" } }
                            }
                            td { (next_fire(job, now)) }
                            td { (backoff(&job.backoff, now)) }
                            td.num { (job.last_24h.runs) @if job.last_24h.failed > 0 { " (" (job.last_24h.failed) " failed)" } }
                            td.num { (job.last_24h.rows) }
                            td.num { (job.last_24h.new_findings) }
                            td {
                                @if job.gaps.stretches == 0 { "none" }
                                @else { (job.gaps.stretches) " (" (span(job.gaps.seconds)) ")" }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn legend() -> Markup {
    html! {
        p.legend {
            @for kind in [Coverage::Covered, Coverage::Failed, Coverage::Skipped, Coverage::Gap] {
                span {
                    svg viewBox="0 0 12 12" aria-hidden="true" { rect class=(kind.as_str()) width="12" height="12" {} }
                    (kind.as_str())
                }
            }
            span.meta { "blank: not hunted yet (before the first run, or not yet due)" }
        }
    }
}

fn timelines(jobs: &[JobStatus], now: DateTime<Utc>) -> Markup {
    let week = now - TIMELINE_SPAN;
    let hour = now - TimeDelta::hours(1);
    html! {
        div.timeline #timeline {
            div.meta { "job" }
            div.meta { "last 7 days (a tick a day)" }
            div.meta { "last hour (a tick every 10 minutes)" }
            @for job in jobs {
                div { (job.name) }
                (track(job, "week", week, now, TimeDelta::days(1)))
                (track(job, "hour", hour, now, TimeDelta::minutes(10)))
            }
        }
    }
}

/// One job's timeline over `[since, now)` as an SVG bar, with a tick every `tick`.
fn track(
    job: &JobStatus,
    range: &str,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    tick: TimeDelta,
) -> Markup {
    let scale = Scale { since, now };
    let ticks = (1..)
        .map(|n| now - tick * n)
        .take_while(|t| *t > since)
        .map(|t| scale.x(t));
    html! {
        svg data-job=(job.name) data-range=(range)
            viewBox={ "0 0 " (TIMELINE_WIDTH) " " (TIMELINE_HEIGHT) }
            preserveAspectRatio="none" role="img"
            aria-label={ "coverage of " (job.name) " over the " (range) } {
            @for segment in job.timeline.iter().filter(|s| s.end > since) {
                (bar(segment, &scale))
            }
            @for x in ticks {
                line.tick x1=(format!("{x:.2}")) x2=(format!("{x:.2}")) y1="0" y2=(TIMELINE_HEIGHT) {}
            }
        }
    }
}

/// Maps times in `[since, now]` onto the timeline's width.
struct Scale {
    since: DateTime<Utc>,
    now: DateTime<Utc>,
}

impl Scale {
    #[allow(clippy::cast_precision_loss)]
    fn x(&self, t: DateTime<Utc>) -> f64 {
        let total = (self.now - self.since).num_milliseconds().max(1) as f64;
        let t = t.clamp(self.since, self.now);
        (t - self.since).num_milliseconds() as f64 / total * TIMELINE_WIDTH
    }
}

/// One segment as a rectangle scaled into the timeline, with its span as a tooltip.
fn bar(segment: &Segment, scale: &Scale) -> Markup {
    let start = scale.x(segment.start);
    // A run of a few seconds in seven days still shows, as a thin stripe.
    let width = (scale.x(segment.end) - start).max(MIN_BAR_WIDTH);
    html! {
        rect class=(segment.kind.as_str()) x=(format!("{start:.2}")) y="0"
            width=(format!("{width:.2}")) height=(TIMELINE_HEIGHT) {
            title { (segment.kind.as_str()) ": " (time(segment.start)) " to " (time(segment.end)) }
        }
    }
}

fn instances_table(instances: &[InstanceStatus]) -> Markup {
    html! {
        @if instances.is_empty() {
            p { "No instances with jobs or recent runs." }
        } @else {
            table #instances {
                thead { tr {
                    th { "Instance" } th { "Calls" } th { "Quota" } th { "Throttle wait" } th { "Runs" }
                } }
                tbody {
                    @for i in instances {
                        tr {
                            td { (i.name) }
                            td.num {
                                (i.api_calls)
                                @if i.uncounted_runs > 0 { " (+" (i.uncounted_runs) " runs uncounted)" }
                            }
                            td {
                                @match &i.quota {
                                    Some(q) => {
                                        (q.per_minute) "/min"
                                        @if let Some(h) = q.per_hour { ", " (h) "/h" }
                                        @if !q.configured { " (default)" }
                                    }
                                    None => "-",
                                }
                            }
                            td.num { (millis(i.throttle_wait_ms)) }
                            td.num { (i.runs) }
                        }
                    }
                }
            }
            p.meta { "Instances on one tenant share its quota. Calls count the runs that finished." }
        }
    }
}

fn failures(status: &Status) -> Markup {
    html! {
        @if status.failures.is_empty() {
            p { "No failed runs in the last 7 days." }
        } @else {
            table #failures {
                thead { tr { th { "Started" } th { "Job" } th { "Window" } th { "Class" } th { "Message" } } }
                tbody {
                    @for f in &status.failures {
                        tr {
                            td { (time(f.started_at)) }
                            td { (f.job) }
                            td { (time(f.window_start)) " to " (time(f.window_end)) }
                            td { (f.error_class.as_deref().unwrap_or("-")) }
                            td.msg { (f.error_message.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{BackoffState, Failure, GapSummary, Recent};
    use crate::testing::utc as at;

    fn status() -> Status {
        let now = at("2024-05-08T00:00:00Z");
        Status {
            generated_at: now,
            jobs: vec![JobStatus {
                name: "<script>alert(1)</script>".into(),
                instance: "prod".into(),
                enabled: true,
                loaded: true,
                last_run: None,
                next_fire: Some(now),
                backoff: BackoffState::default(),
                last_24h: Recent::default(),
                covered_until: None,
                gaps: GapSummary::default(),
                timeline: vec![Segment {
                    start: at("2024-05-04T12:00:00Z"),
                    end: now,
                    kind: Coverage::Covered,
                }],
            }],
            instances: Vec::new(),
            failures: vec![Failure {
                id: 1,
                job: "j".into(),
                started_at: now,
                window_start: now,
                window_end: now,
                error_class: Some("query".into()),
                error_message: Some("bad <img src=x onerror=alert(1)> & more".into()),
            }],
            delivery: Delivery::NoOutputs,
        }
    }

    #[test]
    fn names_and_messages_are_escaped_and_the_page_has_no_script() {
        let page = render(&status());
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("bad &lt;img src=x onerror=alert(1)&gt; &amp; more"));
        assert!(page.contains(r#"href="/metrics""#));
    }

    #[test]
    fn a_timeline_segment_is_scaled_into_the_seven_days() {
        let page = render(&status());
        // Three and a half of seven days: the bar starts half way.
        assert!(
            page.contains(r#"<rect class="covered" x="500.00" y="0" width="500.00""#),
            "{page}"
        );
    }
}
