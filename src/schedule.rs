//! When jobs fire: cron expressions or fixed intervals, in an IANA time zone.

use std::time::Duration;

/// How a job's fire times are computed.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// A 5- or 6-field cron expression (6 = with seconds).
    Cron(Box<croner::Cron>),
    /// Every fixed interval, aligned to the Unix epoch so restarts keep the same slots.
    Every(Duration),
}

/// A job's schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The trigger.
    pub trigger: Trigger,
    /// The zone cron fields are read in.
    pub timezone: chrono_tz::Tz,
    /// The schedule as written, for display.
    pub text: String,
}
