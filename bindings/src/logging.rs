//! Forwards the core's `tracing` events to the app's log (logcat, os_log).
//! The core logs no personal data, tokens or keys: event kinds, counts,
//! sequence numbers, reasons.

use std::fmt::Write as _;
use std::sync::{Arc, Once, RwLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// The app's log, implemented by the shell.
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    fn log(&self, level: LogLevel, target: String, message: String);
}

type Sink = Option<(Arc<dyn LogSink>, LogLevel)>;

static SINK: RwLock<Sink> = RwLock::new(None);
static INSTALL: Once = Once::new();

/// Sends the library's log lines at `max_level` and above to `sink`,
/// replacing an earlier sink. Returns false if the process already had
/// another global `tracing` subscriber, which then keeps receiving them.
#[uniffi::export]
pub fn set_log_sink(sink: Arc<dyn LogSink>, max_level: LogLevel) -> bool {
    *SINK.write().unwrap_or_else(|p| p.into_inner()) = Some((sink, max_level));
    let mut installed = true;
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(Forward);
        installed = tracing::subscriber::set_global_default(subscriber).is_ok();
    });
    installed
}

struct Forward;

impl<S: Subscriber> Layer<S> for Forward {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let guard = SINK.read().unwrap_or_else(|p| p.into_inner());
        let Some((sink, max)) = guard.as_ref() else {
            return;
        };
        let level = match *event.metadata().level() {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            Level::TRACE => LogLevel::Trace,
        };
        if level > *max {
            return;
        }
        let mut line = Line::default();
        event.record(&mut line);
        sink.log(level, event.metadata().target().to_string(), line.0);
    }
}

/// `message key=value key=value`.
#[derive(Default)]
struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}{rest}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}
