//! The registry: families of series, each series a few atomics.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::text::{escape_help, escape_label, fmt_f64};

/// Label sets one family holds at most. The guard's labels come from a short closed list
/// (detectors, reasons, log sources): 10,000 leaves room for any of them and caps what a
/// label taken from observed data could cost (about 100 bytes a series).
pub const MAX_SERIES: usize = 10_000;

/// What a family measures, as written on its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricKind {
    /// Only goes up (restarts at zero with the process).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations counted into cumulative buckets, with their sum and count.
    Histogram,
    /// A `# TYPE` the parser does not know (`summary`, `untyped`).
    Other,
}

impl MetricKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
            MetricKind::Other => "untyped",
        }
    }
}

/// The metric families of one process; clones share them.
#[derive(Clone, Default)]
pub struct Registry {
    families: Arc<Mutex<Vec<Arc<Family>>>>,
}

struct Family {
    name: String,
    help: String,
    kind: MetricKind,
    labels: Vec<String>,
    /// Upper bounds, strictly increasing, without `+Inf` (always implied).
    buckets: Vec<f64>,
    series: Mutex<BTreeMap<Vec<String>, Arc<Cell>>>,
    /// Where label sets beyond [`MAX_SERIES`] go: counted, never exported.
    overflow: Arc<Cell>,
}

/// One series' storage. Gauges and sums keep an `f64`'s bits in an `AtomicU64`.
struct Cell {
    value: AtomicU64,
    /// Histograms: per-bucket counts (not cumulative), the last one for `+Inf`.
    buckets: Vec<AtomicU64>,
    sum: AtomicU64,
}

impl Cell {
    fn new(buckets: usize) -> Cell {
        Cell {
            value: AtomicU64::new(0),
            buckets: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere leaves numbers, never a broken invariant: keep serving them.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn add_f64(a: &AtomicU64, delta: f64) {
    let mut old = a.load(Ordering::Relaxed);
    loop {
        let new = (f64::from_bits(old) + delta).to_bits();
        match a.compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) => old = now,
        }
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The counter family `name`, registered on first call (later calls with the same
    /// name, kind and labels return the same family).
    ///
    /// # Panics
    /// On an invalid metric or label name, or a name registered with another kind or
    /// other labels.
    pub fn counter(&self, name: &str, help: &str, labels: &[&str]) -> Counter {
        Counter(self.family(name, help, MetricKind::Counter, labels, &[]))
    }

    /// The gauge family `name`; see [`Registry::counter`] for the rules.
    pub fn gauge(&self, name: &str, help: &str, labels: &[&str]) -> Gauge {
        Gauge(self.family(name, help, MetricKind::Gauge, labels, &[]))
    }

    /// The histogram family `name` with these bucket upper bounds (`+Inf` is implied);
    /// see [`Registry::counter`] for the rules.
    ///
    /// # Panics
    /// Also when the bounds are not finite and strictly increasing, or a label is `le`.
    pub fn histogram(&self, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> Histogram {
        assert!(
            buckets.iter().all(|b| b.is_finite()) && buckets.windows(2).all(|w| w[0] < w[1]),
            "histogram {name}: bucket bounds must be finite and strictly increasing: {buckets:?}"
        );
        assert!(
            !labels.contains(&"le"),
            "histogram {name}: `le` is reserved for buckets"
        );
        Histogram(self.family(name, help, MetricKind::Histogram, labels, buckets))
    }

    fn family(
        &self,
        name: &str,
        help: &str,
        kind: MetricKind,
        labels: &[&str],
        buckets: &[f64],
    ) -> Arc<Family> {
        assert!(valid_name(name), "invalid metric name {name:?}");
        for l in labels {
            assert!(valid_label(l), "metric {name}: invalid label name {l:?}");
        }
        let mut families = lock(&self.families);
        if let Some(f) = families.iter().find(|f| f.name == name) {
            assert!(
                f.kind == kind && f.labels == labels && f.buckets == buckets,
                "metric {name} registered twice with different kinds, labels or buckets"
            );
            return f.clone();
        }
        let cells = if kind == MetricKind::Histogram {
            buckets.len() + 1
        } else {
            0
        };
        let family = Arc::new(Family {
            name: name.to_owned(),
            help: help.to_owned(),
            kind,
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            buckets: buckets.to_vec(),
            series: Mutex::new(BTreeMap::new()),
            overflow: Arc::new(Cell::new(cells)),
        });
        families.push(family.clone());
        family
    }

    /// The exposition of every family in the text format 0.0.4, families in registration
    /// order, series sorted by label values.
    pub fn render(&self) -> String {
        let families: Vec<Arc<Family>> = lock(&self.families).clone();
        let mut out = String::new();
        for f in &families {
            f.render(&mut out);
        }
        out
    }
}

impl Family {
    fn with(&self, values: &[&str]) -> Arc<Cell> {
        assert_eq!(
            values.len(),
            self.labels.len(),
            "metric {}: {} label values given for labels {:?}",
            self.name,
            values.len(),
            self.labels
        );
        let mut series = lock(&self.series);
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        if let Some(c) = series.get(&key) {
            return c.clone();
        }
        if series.len() >= MAX_SERIES {
            return self.overflow.clone();
        }
        let cells = if self.kind == MetricKind::Histogram {
            self.buckets.len() + 1
        } else {
            0
        };
        let cell = Arc::new(Cell::new(cells));
        series.insert(key, cell.clone());
        cell
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, escape_help(&self.help));
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind.as_str());
        let series: Vec<(Vec<String>, Arc<Cell>)> = lock(&self.series)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (values, cell) in series {
            let labels = self.label_text(&values, None);
            match self.kind {
                MetricKind::Counter => {
                    let v = cell.value.load(Ordering::Relaxed);
                    let _ = writeln!(out, "{}{labels} {v}", self.name);
                }
                MetricKind::Gauge | MetricKind::Other => {
                    let v = f64::from_bits(cell.value.load(Ordering::Relaxed));
                    let _ = writeln!(out, "{}{labels} {}", self.name, fmt_f64(v));
                }
                MetricKind::Histogram => {
                    // Read the buckets once; the count is their total, so a scrape racing
                    // an observation stays consistent (count == +Inf bucket).
                    let mut cumulative = 0u64;
                    for (i, b) in cell.buckets.iter().enumerate() {
                        cumulative += b.load(Ordering::Relaxed);
                        let le = self
                            .buckets
                            .get(i)
                            .map_or("+Inf".to_owned(), |b| fmt_f64(*b));
                        let labels = self.label_text(&values, Some(&le));
                        let _ = writeln!(out, "{}_bucket{labels} {cumulative}", self.name);
                    }
                    let sum = f64::from_bits(cell.sum.load(Ordering::Relaxed));
                    let _ = writeln!(out, "{}_sum{labels} {}", self.name, fmt_f64(sum));
                    let _ = writeln!(out, "{}_count{labels} {cumulative}", self.name);
                }
            }
        }
    }

    fn label_text(&self, values: &[String], le: Option<&str>) -> String {
        let mut pairs: Vec<String> = self
            .labels
            .iter()
            .zip(values)
            .map(|(n, v)| format!("{n}=\"{}\"", escape_label(v)))
            .collect();
        if let Some(le) = le {
            pairs.push(format!("le=\"{le}\""));
        }
        if pairs.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", pairs.join(","))
        }
    }
}

/// A counter family: `with(&[values])` gives one series; on a family without labels,
/// [`Counter::inc`] and [`Counter::add`] act on its only series.
#[derive(Clone)]
pub struct Counter(Arc<Family>);

/// One counter series.
#[derive(Clone)]
pub struct CounterSeries(Arc<Cell>);

impl Counter {
    /// The series of these label values (in the family's label order).
    ///
    /// # Panics
    /// When the number of values differs from the family's labels.
    pub fn with(&self, values: &[&str]) -> CounterSeries {
        CounterSeries(self.0.with(values))
    }

    /// Adds one to the series without labels.
    pub fn inc(&self) {
        self.with(&[]).inc();
    }

    /// Adds `n` to the series without labels.
    pub fn add(&self, n: u64) {
        self.with(&[]).add(n);
    }
}

impl CounterSeries {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.value.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.value.load(Ordering::Relaxed)
    }
}

/// A gauge family; see [`Counter`] for series and families without labels.
#[derive(Clone)]
pub struct Gauge(Arc<Family>);

/// One gauge series.
#[derive(Clone)]
pub struct GaugeSeries(Arc<Cell>);

impl Gauge {
    /// The series of these label values.
    ///
    /// # Panics
    /// When the number of values differs from the family's labels.
    pub fn with(&self, values: &[&str]) -> GaugeSeries {
        GaugeSeries(self.0.with(values))
    }

    /// Sets the series without labels.
    pub fn set(&self, v: f64) {
        self.with(&[]).set(v);
    }

    /// Adds to the series without labels (negative to subtract).
    pub fn add(&self, delta: f64) {
        self.with(&[]).add(delta);
    }
}

impl GaugeSeries {
    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.0.value.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Adds `delta` (negative to subtract).
    pub fn add(&self, delta: f64) {
        add_f64(&self.0.value, delta);
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1.0);
    }

    /// Subtracts one.
    pub fn dec(&self) {
        self.add(-1.0);
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.value.load(Ordering::Relaxed))
    }
}

/// A histogram family; see [`Counter`] for series and families without labels.
#[derive(Clone)]
pub struct Histogram(Arc<Family>);

/// One histogram series.
#[derive(Clone)]
pub struct HistogramSeries {
    cell: Arc<Cell>,
    family: Arc<Family>,
}

impl Histogram {
    /// The series of these label values.
    ///
    /// # Panics
    /// When the number of values differs from the family's labels.
    pub fn with(&self, values: &[&str]) -> HistogramSeries {
        HistogramSeries {
            cell: self.0.with(values),
            family: self.0.clone(),
        }
    }

    /// Records one observation in the series without labels.
    pub fn observe(&self, v: f64) {
        self.with(&[]).observe(v);
    }
}

impl HistogramSeries {
    /// Records one observation (`NaN` is ignored: it belongs to no bucket).
    pub fn observe(&self, v: f64) {
        if v.is_nan() {
            return;
        }
        let bounds = &self.family.buckets;
        let i = bounds.partition_point(|b| *b < v);
        self.cell.buckets[i].fetch_add(1, Ordering::Relaxed);
        add_f64(&self.cell.sum, v);
    }

    /// Observations recorded so far.
    pub fn count(&self) -> u64 {
        self.cell
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_counter_gauge_histogram() {
        let r = Registry::new();
        let c = r.counter("a_total", "A \\ help\nline.", &["reason"]);
        c.with(&["x\"y\n"]).add(3);
        let g = r.gauge("b", "B.", &[]);
        g.set(-1.5);
        let h = r.histogram("c_seconds", "C.", &["k"], &[0.5, 1.0]);
        let s = h.with(&["v"]);
        s.observe(0.5);
        s.observe(0.7);
        s.observe(9.0);
        assert_eq!(
            r.render(),
            "# HELP a_total A \\\\ help\\nline.\n# TYPE a_total counter\n\
             a_total{reason=\"x\\\"y\\n\"} 3\n\
             # HELP b B.\n# TYPE b gauge\nb -1.5\n\
             # HELP c_seconds C.\n# TYPE c_seconds histogram\n\
             c_seconds_bucket{k=\"v\",le=\"0.5\"} 1\n\
             c_seconds_bucket{k=\"v\",le=\"1\"} 2\n\
             c_seconds_bucket{k=\"v\",le=\"+Inf\"} 3\n\
             c_seconds_sum{k=\"v\"} 10.2\n\
             c_seconds_count{k=\"v\"} 3\n"
        );
    }

    #[test]
    fn same_family_twice_is_shared() {
        let r = Registry::new();
        r.counter("x_total", "X.", &[]).inc();
        r.counter("x_total", "X.", &[]).inc();
        assert_eq!(r.counter("x_total", "X.", &[]).with(&[]).get(), 2);
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn same_name_other_kind_panics() {
        let r = Registry::new();
        r.counter("x", "X.", &[]);
        r.gauge("x", "X.", &[]);
    }

    #[test]
    #[should_panic(expected = "invalid metric name")]
    fn bad_name_panics() {
        Registry::new().counter("1x", "X.", &[]);
    }

    #[test]
    fn series_are_bounded() {
        let r = Registry::new();
        let c = r.counter("n_total", "N.", &["v"]);
        for i in 0..MAX_SERIES + 5 {
            c.with(&[&i.to_string()]).inc();
        }
        let lines = r.render().lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(lines, MAX_SERIES);
    }
}
