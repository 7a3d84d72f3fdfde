//! `report`: turns one result directory of `benches/compare.sh` into a markdown
//! table and an SVG chart.
//!
//! ```text
//! report <results-dir>
//! ```
//!
//! Every `<results-dir>/*.json` is one `loadgen --json` result whose `label` is
//! `<scenario>/<server>`. The table goes to stdout and to `<results-dir>/table.md`,
//! the chart to `<results-dir>/chart.svg` (its path is printed to stderr as
//! `chart: <path>`).
//!
//! The table has one row per run, grouped by scenario (`a1k a5k a15k b b20k c d e x1k p1k pd`,
//! then unknown ones sorted) and ordered by server (`roomcast socketioxide socketio
//! sails raw rawbatch`, then unknown ones sorted; a repeated run, `<server> (run N)`,
//! right after its server's first). Its last column is roomcast's
//! advantage over that row's server on the scenario's headline metric, `>1` meaning
//! roomcast is better: deliveries/s for the saturating scenarios, p99 latency for
//! the paced ones (`b`, `b20k`), RSS per connection for `d` and `pd`, connections/s
//! for `e`.
//! Below the table, one line per `a*` scenario compares roomcast with the coalesced
//! floor (`rawbatch`).
//!
//! The chart stacks one grouped bar chart per metric (deliveries/s, p99 latency on
//! a log scale, RSS per idle connection, connections/s), each only if its scenarios
//! have data. It is drawn with plotters' SVG backend, which emits text as `<text>`
//! and needs no system fonts.
//!
//! Cluster scenarios (`x1k`: any run with a `publisher_url`, loadgen
//! `--publisher-url`) get a table of their own below, one row per run: nodes
//! (`2 + Redis` when the run has Redis counters), deliveries/s, p50 / p99, lost /
//! duplicated, Redis PUBLISH calls and bytes in / out per broadcast (loadgen
//! `--redis-stats`), server CPU (summed over the nodes and Redis), the run's
//! deliveries/s as a % of its one-node reference (`<server>-1node`, e.g.
//! `roomcast-1node` for `roomcast`) and roomcast's advantage (over runs of as
//! many nodes: `roomcast` for clusters, `roomcast-1node` for one node).
//!
//! Fields are read leniently: a missing or null field shows as `-`. Files that do
//! not parse or have no usable `label` are skipped with a warning on stderr.
//!
//! Exit status: 0 on success, 2 when the directory is missing or holds no usable
//! result, 1 when the table or the chart cannot be written.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;

/// Known scenarios, in display order; unknown ones follow, sorted.
const SCENARIOS: [&str; 12] = [
    "a1k", "a5k", "a15k", "b", "b20k", "c", "d", "e", "ej", "x1k", "p1k", "pd",
];
/// Known servers, in display order; unknown ones follow, sorted.
const SERVERS: [&str; 8] = [
    "roomcast",
    "roomcast-1node",
    "socketioxide",
    "socketio",
    "socketio-1node",
    "sails",
    "raw",
    "rawbatch",
];
/// Suffix of a cluster run's one-node reference (`roomcast-1node`).
const ONE_NODE: &str = "-1node";
/// The server every other one is compared with.
const BASELINE: &str = "roomcast";
/// The coalesced floor (rawfanout `--coalesce`).
const FLOOR: &str = "rawbatch";

/// Width of the chart in pixels.
const CHART_WIDTH: u32 = 1000;
/// Height of one panel of the chart in pixels.
const PANEL_HEIGHT: u32 = 270;
/// Widest bar in pixels, so that a group of one or two bars stays readable.
const MAX_BAR_PX: f64 = 90.0;
/// Width of one group of bars in x-axis units.
const GROUP_WIDTH: i32 = 1000;

const TITLE_THROUGHPUT: &str = "Deliveries/s, one room, 100 B, saturating (M/s, higher is better)";
const TITLE_LATENCY: &str =
    "p99 latency, 1 k clients, paced deliveries (ms, log scale, lower is better)";
const TITLE_RSS: &str =
    "Server RSS per idle connection (15 k WebSockets, 5 k polling sessions; KB, lower is better)";
const TITLE_CONNECT: &str =
    "Connection storm, 5 k clients, 2 k handshakes in flight (conn/s, higher is better)";

/// The server's name as shown in the table and the chart (a repeated run's
/// ` (run N)` suffix, from compare.sh, is kept).
fn display_name(server: &str) -> std::borrow::Cow<'_, str> {
    let (base, run) = split_run(server);
    let name = match base {
        "socketioxide" => "socketioxide 0.18",
        "socketio" => "socket.io 4.8",
        "roomcast-1node" => "roomcast, one node",
        "socketio-1node" => "socket.io 4.8, one node",
        "sails" => "Sails 1.5",
        "raw" => "floor, 1 write/delivery",
        "rawbatch" => "floor, coalesced",
        other => other,
    };
    if run.is_empty() {
        name.into()
    } else {
        format!("{name}{run}").into()
    }
}

/// `("roomcast", " (run 3)")` for `"roomcast (run 3)"`, `("roomcast", "")` for
/// `"roomcast"`.
fn split_run(server: &str) -> (&str, &str) {
    match server.find(" (run ") {
        Some(i) if server.ends_with(')') => server.split_at(i),
        _ => (server, ""),
    }
}

/// The server's bar colour; unknown servers take colours from a spare palette by
/// their position among the unknown ones.
fn server_colour(server: &str, unknown_index: usize) -> RGBColor {
    const SPARE: [RGBColor; 4] = [
        RGBColor(0xe6, 0x77, 0x00),
        RGBColor(0x0c, 0x85, 0x99),
        RGBColor(0xc2, 0x25, 0x5c),
        RGBColor(0x5c, 0x94, 0x0d),
    ];
    match server {
        "roomcast" => RGBColor(0xd9, 0x48, 0x0f),
        "roomcast-1node" => RGBColor(0xff, 0xa9, 0x4d),
        "socketioxide" => RGBColor(0x19, 0x71, 0xc2),
        "socketio" => RGBColor(0x2f, 0x9e, 0x44),
        "socketio-1node" => RGBColor(0x8c, 0xe9, 0x9a),
        "sails" => RGBColor(0x70, 0x48, 0xe8),
        "raw" => RGBColor(0x86, 0x8e, 0x96),
        "rawbatch" => RGBColor(0x49, 0x50, 0x57),
        _ => SPARE[unknown_index % SPARE.len()],
    }
}

/// Why no report could be made.
#[derive(Debug)]
enum ReportError {
    /// The results directory does not exist or is not a directory.
    MissingDir(PathBuf),
    /// The results directory holds no usable result JSON.
    NoResults(PathBuf),
    /// A file or directory could not be read or written.
    Io {
        /// What was being read or written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// plotters failed to draw the chart.
    Chart(String),
}

impl ReportError {
    /// 2 for a bad input directory, 1 for a failure to produce the output.
    fn exit_code(&self) -> u8 {
        match self {
            Self::MissingDir(_) | Self::NoResults(_) => 2,
            Self::Io { .. } | Self::Chart(_) => 1,
        }
    }
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingDir(dir) => {
                write!(f, "{}: no such results directory", dir.display())
            }
            Self::NoResults(dir) => write!(
                f,
                "{}: no usable result JSON (expected <scenario>-<server>.json files from compare.sh)",
                dir.display()
            ),
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Chart(msg) => write!(f, "drawing the chart failed: {msg}"),
        }
    }
}

impl std::error::Error for ReportError {}

/// Loadgen results, by scenario and then by server.
#[derive(Debug, Default)]
struct ResultSet {
    runs: BTreeMap<String, BTreeMap<String, Value>>,
}

impl ResultSet {
    /// The run of `server` in `scenario`, if there is one.
    fn get(&self, scenario: &str, server: &str) -> Option<&Value> {
        self.runs.get(scenario)?.get(server)
    }

    /// The mean deliveries/s of every run of `server` in `scenario` (its
    /// repeats too), and how many runs had a figure.
    fn mean_throughput(&self, scenario: &str, server: &str) -> (Option<f64>, usize) {
        let values: Vec<f64> = self
            .runs
            .get(scenario)
            .into_iter()
            .flatten()
            .filter(|(name, _)| split_run(name).0 == server)
            .filter_map(|(_, run)| Headline::Throughput.value(run))
            .collect();
        let mean = (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
        (mean, values.len())
    }

    /// The scenarios present, in display order.
    fn scenarios(&self) -> Vec<&str> {
        display_order(&SCENARIOS, self.runs.keys().map(String::as_str))
    }

    /// Whether `scenario` is a cluster scenario: a run has a `publisher_url`.
    fn is_cluster(&self, scenario: &str) -> bool {
        self.runs.get(scenario).is_some_and(|servers| {
            servers
                .values()
                .any(|run| run.get("publisher_url").is_some_and(|u| !u.is_null()))
        })
    }

    /// The servers that ran `scenario`, in display order (repeated runs right
    /// after their server's first one).
    fn servers_in(&self, scenario: &str) -> Vec<&str> {
        match self.runs.get(scenario) {
            Some(servers) => {
                let mut order = display_order(&SERVERS, servers.keys().map(String::as_str));
                let rank = |s: &str| {
                    let base = split_run(s).0;
                    SERVERS
                        .iter()
                        .position(|k| *k == base)
                        .unwrap_or(SERVERS.len())
                };
                order.sort_by_key(|s| rank(s));
                order
            }
            None => Vec::new(),
        }
    }
}

/// `present` in the order of `known`, then the unknown ones in their own order
/// (sorted, as they come from a `BTreeMap`).
fn display_order<'a>(known: &[&str], present: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let present: Vec<&str> = present.collect();
    let mut ordered: Vec<&str> = known
        .iter()
        .filter_map(|k| present.iter().copied().find(|p| p == k))
        .collect();
    ordered.extend(present.iter().copied().filter(|p| !known.contains(p)));
    ordered
}

/// Reads every `*.json` in `dir`; files that can't be used are reported in
/// `warnings` and skipped.
///
/// # Errors
///
/// [`ReportError::MissingDir`] if `dir` is not a directory, [`ReportError::Io`] if it
/// can't be listed, [`ReportError::NoResults`] if no file gave a result.
fn load_results(dir: &Path, warnings: &mut Vec<String>) -> Result<ResultSet, ReportError> {
    if !dir.is_dir() {
        return Err(ReportError::MissingDir(dir.to_path_buf()));
    }
    let entries = fs::read_dir(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "json") && p.is_file())
        .collect();
    paths.sort();

    let mut results = ResultSet::default();
    for path in paths {
        let shown = path.display();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                warnings.push(format!("{shown}: skipped, cannot read it: {e}"));
                continue;
            }
        };
        let run: Value = match serde_json::from_str(&text) {
            Ok(run) => run,
            Err(e) => {
                warnings.push(format!("{shown}: skipped, not JSON: {e}"));
                continue;
            }
        };
        let Some(label) = run.get("label").and_then(Value::as_str) else {
            warnings.push(format!("{shown}: skipped, no \"label\""));
            continue;
        };
        let Some((scenario, server)) = label
            .split_once('/')
            .filter(|(sc, srv)| !sc.is_empty() && !srv.is_empty())
        else {
            warnings.push(format!(
                "{shown}: skipped, label {label:?} is not <scenario>/<server>"
            ));
            continue;
        };
        let (scenario, server) = (scenario.to_owned(), server.to_owned());
        let by_server = results.runs.entry(scenario).or_default();
        if by_server.contains_key(&server) {
            warnings.push(format!(
                "{shown}: label {label:?} seen before, this file replaces the earlier one"
            ));
        }
        by_server.insert(server, run);
    }
    if results.runs.is_empty() {
        return Err(ReportError::NoResults(dir.to_path_buf()));
    }
    Ok(results)
}

/// The number at JSON `pointer` in `run`, if it is there and a number.
fn number(run: &Value, pointer: &str) -> Option<f64> {
    run.pointer(pointer)?.as_f64()
}

/// The non-negative integer at JSON `pointer` in `run`.
fn count(run: &Value, pointer: &str) -> Option<u64> {
    run.pointer(pointer)?.as_u64()
}

/// The metric a scenario is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Headline {
    /// Deliveries per second (saturating scenarios and unknown ones).
    Throughput,
    /// p99 latency at a paced rate (`b`, `b20k`).
    Latency,
    /// Server RSS per idle connection (`d`).
    Rss,
    /// Connections per second in a connection storm (`e`).
    ConnectRate,
}

impl Headline {
    fn of(scenario: &str) -> Self {
        match scenario {
            "b" | "b20k" => Self::Latency,
            "d" | "pd" => Self::Rss,
            "e" | "ej" => Self::ConnectRate,
            _ => Self::Throughput,
        }
    }

    fn value(self, run: &Value) -> Option<f64> {
        match self {
            Self::Throughput => number(run, "/deliveries_per_s"),
            Self::Latency => number(run, "/latency_ms/p99"),
            Self::Rss => number(run, "/server_rss_per_conn_bytes"),
            Self::ConnectRate => number(run, "/connect_per_s"),
        }
    }

    fn higher_is_better(self) -> bool {
        matches!(self, Self::Throughput | Self::ConnectRate)
    }
}

/// How many times better roomcast is than `other` (`>1`: roomcast better), or
/// `None` if either value is missing or not positive.
fn advantage(headline: Headline, roomcast: Option<f64>, other: Option<f64>) -> Option<f64> {
    let (roomcast, other) = (roomcast?, other?);
    if roomcast <= 0.0 || other <= 0.0 {
        return None;
    }
    Some(if headline.higher_is_better() {
        roomcast / other
    } else {
        other / roomcast
    })
}

/// `v` rounded to an integer with thousands separators: `18,581`.
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if v < 0.0 && digits.bytes().any(|b| b != b'0') {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A latency in ms: two decimals under 1 ms, one above (`0.21`, `6.6`).
fn millis(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.1} ms")
    }
}

/// The `-` shown for anything missing.
fn or_dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "-".to_owned())
}

/// The table's `result` cell for one run.
fn result_text(scenario: &str, run: &Value) -> String {
    match Headline::of(scenario) {
        Headline::Rss => or_dash(
            Headline::Rss
                .value(run)
                .map(|v| format!("{} B/conn", thousands(v))),
        ),
        Headline::ConnectRate => or_dash(
            Headline::ConnectRate
                .value(run)
                .map(|v| format!("{} conn/s", thousands(v))),
        ),
        Headline::Throughput | Headline::Latency => format!(
            "{}, p99 {}, lost {}, dup {}",
            or_dash(number(run, "/deliveries_per_s").map(|v| format!("{:.3} M/s", v / 1e6))),
            or_dash(number(run, "/latency_ms/p99").map(millis)),
            or_dash(count(run, "/lost").map(|n| n.to_string())),
            or_dash(count(run, "/duplicated").map(|n| n.to_string())),
        ),
    }
}

/// The server's frames per write, `16.0` or `-`.
fn frames_per_write(run: &Value) -> String {
    or_dash(number(run, "/server_frames_per_write").map(|v| format!("{v:.1}")))
}

/// A markdown table cell: `|` escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The markdown table, then the comparisons with the coalesced floor, then the
/// cluster scenarios' table.
fn render_table(results: &ResultSet) -> String {
    let mut lines = vec![
        "| scenario | server | result | frames/write | roomcast advantage |".to_owned(),
        "|---|---|---|---:|---:|".to_owned(),
    ];
    for scenario in results.scenarios() {
        if results.is_cluster(scenario) {
            continue;
        }
        let headline = Headline::of(scenario);
        let baseline = results
            .get(scenario, BASELINE)
            .and_then(|r| headline.value(r));
        for server in results.servers_in(scenario) {
            let Some(run) = results.get(scenario, server) else {
                continue;
            };
            let ratio = advantage(headline, baseline, headline.value(run));
            lines.push(format!(
                "| {} | {} | {} | {} | {} |",
                cell(scenario),
                cell(&display_name(server)),
                result_text(scenario, run),
                frames_per_write(run),
                or_dash(ratio.map(|x| format!("{x:.2}x"))),
            ));
        }
    }
    if lines.len() == 2 {
        lines.clear(); // only cluster scenarios
    }
    let floor_lines = floor_lines(results);
    if !floor_lines.is_empty() {
        lines.push(String::new());
        lines.extend(floor_lines);
    }
    let cluster = cluster_table(results);
    if !cluster.is_empty() {
        if !lines.is_empty() {
            lines.push(String::new());
        }
        lines.extend(cluster);
    }
    let mut table = lines.join("\n");
    table.push('\n');
    table
}

/// The cluster scenarios' table (empty if there is none); see the module docs.
fn cluster_table(results: &ResultSet) -> Vec<String> {
    let mut lines = Vec::new();
    for scenario in results.scenarios() {
        if !results.is_cluster(scenario) {
            continue;
        }
        if lines.is_empty() {
            lines.push(
                "| scenario | server | nodes | deliveries/s | p50 / p99 | lost / dup | Redis PUBLISH / broadcast | Redis bytes in / out per broadcast | server CPU | % of one node | roomcast advantage |"
                    .to_owned(),
            );
            lines.push("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|".to_owned());
        }
        let throughput = Headline::Throughput;
        for server in results.servers_in(scenario) {
            let Some(run) = results.get(scenario, server) else {
                continue;
            };
            let redis = run.get("redis").filter(|r| r.is_object());
            let nodes = count(run, "/nodes").map(|n| {
                if redis.is_some() {
                    format!("{n} + Redis")
                } else {
                    n.to_string()
                }
            });
            let one_node = server.ends_with(ONE_NODE);
            let of_one_node = if one_node {
                Some("reference".to_owned())
            } else {
                results
                    .get(scenario, &format!("{server}{ONE_NODE}"))
                    .and_then(|r| advantage(throughput, throughput.value(run), throughput.value(r)))
                    .map(|x| format!("{:.0}%", x * 100.0))
            };
            let baseline = if one_node {
                format!("{BASELINE}{ONE_NODE}")
            } else {
                BASELINE.to_owned()
            };
            let ratio = advantage(
                throughput,
                results
                    .get(scenario, &baseline)
                    .and_then(|r| throughput.value(r)),
                throughput.value(run),
            );
            let per = |key: &str| redis.and_then(|r| r.get(key)).and_then(Value::as_f64);
            lines.push(format!(
                "| {} | {} | {} | {} | {} / {} | {} / {} | {} | {} / {} | {} | {} | {} |",
                cell(scenario),
                cell(&display_name(server)),
                or_dash(nodes),
                or_dash(number(run, "/deliveries_per_s").map(|v| format!("{:.3} M/s", v / 1e6))),
                or_dash(number(run, "/latency_ms/p50").map(millis)),
                or_dash(number(run, "/latency_ms/p99").map(millis)),
                or_dash(count(run, "/lost").map(|n| n.to_string())),
                or_dash(count(run, "/duplicated").map(|n| n.to_string())),
                or_dash(per("publishes_per_broadcast").map(|v| format!("{v:.2}"))),
                or_dash(per("input_bytes_per_broadcast").map(|v| format!("{v:.0}"))),
                or_dash(per("output_bytes_per_broadcast").map(|v| format!("{v:.0} B"))),
                or_dash(number(run, "/server_cpu_pct").map(|v| format!("{v:.0}%"))),
                or_dash(of_one_node),
                or_dash(ratio.map(|x| format!("{x:.2}x"))),
            ));
        }
    }
    lines
}

/// One line per `a*` scenario with both roomcast and the coalesced floor:
/// roomcast's deliveries/s as a share of the floor's (the means of their runs
/// when they ran more than once), and both frames per write (first runs).
fn floor_lines(results: &ResultSet) -> Vec<String> {
    let mut lines = Vec::new();
    for scenario in results.scenarios() {
        if !scenario.starts_with('a') {
            continue;
        }
        let (Some(roomcast), Some(floor)) = (
            results.get(scenario, BASELINE),
            results.get(scenario, FLOOR),
        ) else {
            continue;
        };
        let ((r, r_runs), (f, f_runs)) = (
            results.mean_throughput(scenario, BASELINE),
            results.mean_throughput(scenario, FLOOR),
        );
        let Some(share) = advantage(Headline::Throughput, r, f) else {
            continue;
        };
        let runs = if r_runs > 1 || f_runs > 1 {
            format!("means of {r_runs} and {f_runs} runs; ")
        } else {
            String::new()
        };
        lines.push(format!(
            "roomcast is {:.0}% of the coalesced floor in {scenario} ({runs}{} vs {} frames/write)",
            share * 100.0,
            frames_per_write(roomcast),
            frames_per_write(floor),
        ));
    }
    lines
}

/// One panel of the chart: a grouped bar chart of one metric.
#[derive(Debug)]
struct Panel {
    title: &'static str,
    y_desc: &'static str,
    /// `(scenario, label under its group of bars)`, left to right.
    groups: &'static [(&'static str, &'static str)],
    /// The metric drawn, divided by `unit` (e.g. 1e6 for M/s).
    headline: Headline,
    unit: f64,
    log_scale: bool,
}

impl Panel {
    fn value(&self, run: &Value) -> Option<f64> {
        self.headline.value(run).map(|v| v / self.unit)
    }
}

const PANELS: [Panel; 4] = [
    Panel {
        title: TITLE_THROUGHPUT,
        y_desc: "M deliveries/s",
        groups: &[
            ("a1k", "1 k clients"),
            ("a5k", "5 k clients"),
            ("a15k", "15 k clients"),
            ("p1k", "1 k polling sessions"),
        ],
        headline: Headline::Throughput,
        unit: 1e6,
        log_scale: false,
    },
    Panel {
        title: TITLE_LATENCY,
        y_desc: "p99 ms",
        groups: &[
            ("b20k", "20 k deliveries/s (unloaded)"),
            ("b", "200 k deliveries/s"),
        ],
        headline: Headline::Latency,
        unit: 1.0,
        log_scale: true,
    },
    Panel {
        title: TITLE_RSS,
        y_desc: "KB per connection",
        groups: &[
            ("d", "15 k idle connections"),
            ("pd", "5 k idle polling sessions"),
        ],
        headline: Headline::Rss,
        unit: 1024.0,
        log_scale: false,
    },
    Panel {
        title: TITLE_CONNECT,
        y_desc: "connections/s",
        groups: &[
            ("e", "5 k clients connecting"),
            ("ej", "the same, each with a JWT"),
        ],
        headline: Headline::ConnectRate,
        unit: 1.0,
        log_scale: false,
    },
];

/// The bars of one scenario in a panel.
#[derive(Debug)]
struct BarGroup<'a> {
    label: &'static str,
    /// `(server, value)` in display order.
    bars: Vec<(&'a str, f64)>,
}

/// The groups of `panel` that have data (positive data on a log scale).
fn panel_groups<'a>(panel: &Panel, results: &'a ResultSet) -> Vec<BarGroup<'a>> {
    panel
        .groups
        .iter()
        .filter_map(|&(scenario, label)| {
            let bars: Vec<(&str, f64)> = results
                .servers_in(scenario)
                .into_iter()
                .filter_map(|server| {
                    let v = panel.value(results.get(scenario, server)?)?;
                    (v.is_finite() && (v > 0.0 || !panel.log_scale && v >= 0.0))
                        .then_some((server, v))
                })
                .collect();
            (!bars.is_empty()).then_some(BarGroup { label, bars })
        })
        .collect()
}

/// A bar's value label: two or three significant digits, separators from 1,000.
fn bar_label(v: f64) -> String {
    if v >= 1000.0 {
        thousands(v)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// An axis tick label: at most three decimals, trailing zeros dropped.
fn axis_label(v: f64) -> String {
    if v.abs() >= 1000.0 {
        return thousands(v);
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// Maps a plotters error to a [`ReportError::Chart`].
fn chart_err(e: impl fmt::Display) -> ReportError {
    ReportError::Chart(e.to_string())
}

/// Draws the chart of `results` and returns the SVG text.
///
/// # Errors
///
/// [`ReportError::Chart`] if plotters fails.
fn render_chart(results: &ResultSet) -> Result<String, ReportError> {
    let panels: Vec<(&Panel, Vec<BarGroup<'_>>)> = PANELS
        .iter()
        .map(|panel| (panel, panel_groups(panel, results)))
        .filter(|(_, groups)| !groups.is_empty())
        .collect();
    let servers = display_order(
        &SERVERS,
        panels
            .iter()
            .flat_map(|(_, groups)| groups.iter())
            .flat_map(|g| g.bars.iter().map(|&(server, _)| server))
            .collect::<std::collections::BTreeSet<&str>>()
            .into_iter(),
    );
    let mut unknown = 0;
    let colours: Vec<(&str, RGBColor)> = servers
        .iter()
        .map(|&server| {
            let colour = server_colour(server, unknown);
            if !SERVERS.contains(&server) {
                unknown += 1;
            }
            (server, colour)
        })
        .collect();
    let colour_of = |server: &str| {
        colours
            .iter()
            .find(|(s, _)| *s == server)
            .map_or(BLACK, |&(_, c)| c)
    };

    let legend = legend_layout(&servers);
    let legend_height = 16 + 22 * legend.iter().map(|e| e.row + 1).max().unwrap_or(1);
    let height = legend_height + PANEL_HEIGHT * u32::try_from(panels.len().max(1)).unwrap_or(1);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (CHART_WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_err)?;
        let (legend_area, body) = root.split_vertically(legend_height);
        for entry in &legend {
            let (x, y) = (entry.x, 12 + 22 * i32::try_from(entry.row).unwrap_or(0));
            let colour = colour_of(entry.server);
            legend_area
                .draw(&Rectangle::new([(x, y), (x + 14, y + 14)], colour.filled()))
                .map_err(chart_err)?;
            legend_area
                .draw(&Text::new(
                    display_name(entry.server),
                    (x + 20, y + 7),
                    legend_font().pos(Pos::new(HPos::Left, VPos::Center)),
                ))
                .map_err(chart_err)?;
        }
        if panels.is_empty() {
            body.draw(&Text::new(
                "no charted scenario (a1k, a5k, a15k, p1k, b20k, b, d, pd, e) in this run",
                (40, 40),
                ("sans-serif", 17).into_font(),
            ))
            .map_err(chart_err)?;
        }
        let areas = body.split_evenly((panels.len().max(1), 1));
        for (area, (panel, groups)) in areas.iter().zip(&panels) {
            let max = groups
                .iter()
                .flat_map(|g| g.bars.iter().map(|&(_, v)| v))
                .fold(0.0_f64, f64::max);
            if panel.log_scale {
                let min = groups
                    .iter()
                    .flat_map(|g| g.bars.iter().map(|&(_, v)| v))
                    .fold(f64::INFINITY, f64::min);
                let lo = 10_f64.powf((min / 2.0).log10().floor());
                let hi = 10_f64.powf((max * 2.0).log10().ceil());
                draw_panel(area, panel, groups, (lo..hi).log_scale(), lo, &colour_of)?;
            } else {
                let hi = if max > 0.0 { max * 1.15 } else { 1.0 };
                draw_panel(area, panel, groups, 0.0..hi, 0.0, &colour_of)?;
            }
        }
        root.present().map_err(chart_err)?;
    }
    Ok(svg)
}

/// Font sizes here are plotters' nominal sizes; its SVG backend writes them
/// divided by 1.24 (17 → 13.7 px).
fn legend_font() -> TextStyle<'static> {
    ("sans-serif", 17).into_font().color(&BLACK)
}

/// Where a legend entry goes: its left edge and its row.
#[derive(Debug)]
struct LegendEntry<'a> {
    server: &'a str,
    x: i32,
    row: u32,
}

/// Lays the legend out left to right, wrapping to a new row at the chart's width.
/// Text widths are estimated (7 px per character at the legend's 13.7 px, a bit
/// wide for sans-serif), as an SVG's are only known to the viewer.
fn legend_layout<'a>(servers: &[&'a str]) -> Vec<LegendEntry<'a>> {
    let (left, right) = (60, i32::try_from(CHART_WIDTH).unwrap_or(1000) - 20);
    let (mut x, mut row) = (left, 0);
    let mut entries = Vec::new();
    for &server in servers {
        let chars = i32::try_from(display_name(server).chars().count()).unwrap_or(40);
        let width = 20 + chars * 7 + 24;
        if x + width > right && x > left {
            x = left;
            row += 1;
        }
        entries.push(LegendEntry { server, x, row });
        x += width;
    }
    entries
}

/// Draws one grouped bar chart into `area`; `y_floor` is where bars start
/// (0, or the bottom of a log axis).
fn draw_panel<Y>(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    panel: &Panel,
    groups: &[BarGroup<'_>],
    y_range: Y,
    y_floor: f64,
    colour_of: &dyn Fn(&str) -> RGBColor,
) -> Result<(), ReportError>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    // x runs in thousandths of a group (plotters' float axes can't take custom
    // key points), one label under the centre of each group.
    let slots = i32::try_from(groups.len()).unwrap_or(i32::MAX / GROUP_WIDTH) * GROUP_WIDTH;
    let centres: Vec<i32> = (0..slots)
        .step_by(GROUP_WIDTH as usize)
        .map(|x| x + GROUP_WIDTH / 2)
        .collect();
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, ("sans-serif", 20).into_font())
        .margin(12)
        .margin_right(24)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d((0..slots).with_key_points(centres), y_range)
        .map_err(chart_err)?;

    let group_label = |x: &i32| {
        usize::try_from(x / GROUP_WIDTH)
            .ok()
            .and_then(|i| groups.get(i))
            .map_or_else(String::new, |g| g.label.to_owned())
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(0xde, 0xe2, 0xe6))
        .x_label_formatter(&group_label)
        .y_label_formatter(&|v: &f64| axis_label(*v))
        .x_label_style(("sans-serif", 16).into_font())
        .y_label_style(("sans-serif", 15).into_font())
        .y_desc(panel.y_desc)
        .axis_desc_style(("sans-serif", 16).into_font())
        .draw()
        .map_err(chart_err)?;

    // Bars take up to 80% of their group, at most MAX_BAR_PX each.
    let group_px = f64::from(
        chart.backend_coord(&(GROUP_WIDTH, y_floor)).0 - chart.backend_coord(&(0, y_floor)).0,
    )
    .max(1.0);
    let value_font = ("sans-serif", 15).into_font().color(&BLACK);
    let slot = f64::from(GROUP_WIDTH);
    for (g, group) in groups.iter().enumerate() {
        let bars = group.bars.len() as f64;
        let width = slot * (0.8 / bars).min(MAX_BAR_PX / group_px);
        let start = slot * (g as f64 + 0.5) - width * bars / 2.0;
        // Rounded to the axis' integer units; well inside i32 by construction.
        let at = |x: f64| x.round() as i32;
        for (b, &(server, value)) in group.bars.iter().enumerate() {
            let x0 = start + width * b as f64;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [
                        (at(x0 + width * 0.06), y_floor),
                        (at(x0 + width * 0.94), value),
                    ],
                    colour_of(server).filled(),
                )))
                .map_err(chart_err)?;
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((at(x0 + width / 2.0), value))
                        + Text::new(
                            bar_label(value),
                            (0, -4),
                            value_font.pos(Pos::new(HPos::Center, VPos::Bottom)),
                        ),
                ))
                .map_err(chart_err)?;
        }
    }
    Ok(())
}

/// What [`run`] made.
#[derive(Debug)]
struct Report {
    /// The markdown table and the floor comparison, as written to `table.md`.
    table: String,
    /// Where the chart was written.
    chart_path: PathBuf,
}

/// Reads `dir`, writes `dir/table.md` and `dir/chart.svg`; skipped files are
/// described in `warnings`.
///
/// # Errors
///
/// See [`load_results`]; [`ReportError::Io`] if an output can't be written,
/// [`ReportError::Chart`] if the chart can't be drawn.
fn run(dir: &Path, warnings: &mut Vec<String>) -> Result<Report, ReportError> {
    let results = load_results(dir, warnings)?;
    let table = render_table(&results);
    let table_path = dir.join("table.md");
    fs::write(&table_path, &table).map_err(|source| ReportError::Io {
        path: table_path,
        source,
    })?;
    let svg = render_chart(&results)?;
    let chart_path = dir.join("chart.svg");
    fs::write(&chart_path, svg).map_err(|source| ReportError::Io {
        path: chart_path.clone(),
        source,
    })?;
    Ok(Report { table, chart_path })
}

const USAGE: &str = "usage: report <results-dir>\n\
    Turns a benches/compare.sh results directory (*.json from loadgen) into a markdown\n\
    table (stdout and <results-dir>/table.md) and <results-dir>/chart.svg.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = match args.as_slice() {
        [flag] if flag == "-h" || flag == "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        [dir] => PathBuf::from(dir),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut warnings = Vec::new();
    let outcome = run(&dir, &mut warnings);
    for warning in &warnings {
        eprintln!("report: warning: {warning}");
    }
    match outcome {
        Ok(report) => {
            print!("{}", report.table);
            eprintln!("chart: {}", report.chart_path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("report: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "roomcast-report-{}-{name}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).expect("create temp dir");
            Self(path)
        }

        fn write(&self, file: &str, text: &str) {
            fs::write(self.0.join(file), text).expect("write test file");
        }

        fn result(&self, label: &str, fields: Value) {
            let mut run = fields;
            run["label"] = json!(label);
            self.write(
                &format!("{}.json", label.replace('/', "-")),
                &run.to_string(),
            );
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn saturating(deliveries: f64, p99: f64, frames_per_write: Option<f64>) -> Value {
        json!({
            "deliveries_per_s": deliveries,
            "latency_ms": {"p50": 1.0, "p90": 2.0, "p99": p99, "p999": 9.0, "max": 12.0},
            "lost": 0,
            "duplicated": 0,
            "connect_per_s": 5000.0,
            "server_rss_per_conn_bytes": null,
            "server_cpu_pct": 99.0,
            "server_frames_per_write": frames_per_write,
        })
    }

    /// a1k (three servers plus the coalesced floor), b, b20k, d and e.
    fn sample_dir() -> TempDir {
        let dir = TempDir::new("sample");
        dir.result("a1k/roomcast", saturating(2_838_000.0, 6.6, Some(16.0)));
        dir.result("a1k/socketioxide", saturating(1_000_000.0, 20.0, None));
        dir.result("a1k/rawbatch", saturating(2_700_000.0, 5.0, Some(15.96)));
        dir.result("a1k/raw", saturating(1_419_000.0, 9.0, Some(1.0)));
        dir.result("b/roomcast", saturating(200_000.0, 2.0, None));
        dir.result("b/socketio", saturating(150_000.0, 50.0, None));
        dir.result("b20k/roomcast", saturating(20_000.0, 0.21, None));
        dir.result("b20k/socketioxide", saturating(20_000.0, 0.42, None));
        dir.result(
            "d/roomcast",
            json!({"server_rss_per_conn_bytes": 2310.144, "connect_per_s": 9000.0}),
        );
        dir.result(
            "d/socketio",
            json!({"server_rss_per_conn_bytes": 10_000.0, "connect_per_s": 3000.0}),
        );
        dir.result("e/roomcast", json!({"connect_per_s": 18_581.2}));
        dir.result("e/raw", json!({"connect_per_s": 19_530.19}));
        dir
    }

    /// The contents of the SVG's `<text>` elements, trimmed.
    fn svg_texts(svg: &str) -> Vec<&str> {
        svg.split("</text>")
            .filter_map(|chunk| chunk.rsplit_once("<text").map(|(_, t)| t))
            .filter_map(|t| t.split_once('>').map(|(_, text)| text.trim()))
            .collect()
    }

    fn load(dir: &TempDir) -> (ResultSet, Vec<String>) {
        let mut warnings = Vec::new();
        let results = load_results(&dir.0, &mut warnings).expect("results load");
        (results, warnings)
    }

    #[test]
    fn repeated_runs_are_rows_after_their_server() {
        let dir = TempDir::new("repeated");
        dir.result("p1k/socketio (run 4)", saturating(200_000.0, 240.0, None));
        dir.result(
            "p1k/roomcast (run 3)",
            saturating(400_000.0, 120.0, Some(13.0)),
        );
        dir.result("p1k/socketio", saturating(100_000.0, 360.0, None));
        dir.result("p1k/roomcast", saturating(500_000.0, 80.0, Some(12.7)));
        dir.result(
            "pd/roomcast",
            json!({"server_rss_per_conn_bytes": 2800.0, "connect_per_s": 5000.0}),
        );
        dir.result(
            "pd/socketio",
            json!({"server_rss_per_conn_bytes": 22_000.0, "connect_per_s": 1200.0}),
        );
        let (results, warnings) = load(&dir);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            results.servers_in("p1k"),
            [
                "roomcast",
                "roomcast (run 3)",
                "socketio",
                "socketio (run 4)"
            ]
        );
        assert_eq!(display_name("socketio (run 4)"), "socket.io 4.8 (run 4)");
        assert_eq!(split_run("roomcast-before"), ("roomcast-before", ""));
        let table = render_table(&results);
        assert!(table.contains("| p1k | socket.io 4.8 (run 4) | 0.200 M/s, p99 240.0 ms, lost 0, dup 0 | - | 2.50x |"), "{table}");
        assert!(
            table.contains("| pd | socket.io 4.8 | 22,000 B/conn | - | 7.86x |"),
            "{table}"
        );
    }

    #[test]
    fn table_rows_in_scenario_and_server_order() {
        let dir = sample_dir();
        let (results, warnings) = load(&dir);
        assert!(warnings.is_empty(), "{warnings:?}");
        let table = render_table(&results);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[..14],
            [
                "| scenario | server | result | frames/write | roomcast advantage |",
                "|---|---|---|---:|---:|",
                "| a1k | roomcast | 2.838 M/s, p99 6.6 ms, lost 0, dup 0 | 16.0 | 1.00x |",
                "| a1k | socketioxide 0.18 | 1.000 M/s, p99 20.0 ms, lost 0, dup 0 | - | 2.84x |",
                "| a1k | floor, 1 write/delivery | 1.419 M/s, p99 9.0 ms, lost 0, dup 0 | 1.0 | 2.00x |",
                "| a1k | floor, coalesced | 2.700 M/s, p99 5.0 ms, lost 0, dup 0 | 16.0 | 1.05x |",
                "| b | roomcast | 0.200 M/s, p99 2.0 ms, lost 0, dup 0 | - | 1.00x |",
                "| b | socket.io 4.8 | 0.150 M/s, p99 50.0 ms, lost 0, dup 0 | - | 25.00x |",
                "| b20k | roomcast | 0.020 M/s, p99 0.21 ms, lost 0, dup 0 | - | 1.00x |",
                "| b20k | socketioxide 0.18 | 0.020 M/s, p99 0.42 ms, lost 0, dup 0 | - | 2.00x |",
                "| d | roomcast | 2,310 B/conn | - | 1.00x |",
                "| d | socket.io 4.8 | 10,000 B/conn | - | 4.33x |",
                "| e | roomcast | 18,581 conn/s | - | 1.00x |",
                "| e | floor, 1 write/delivery | 19,530 conn/s | - | 0.95x |",
            ]
        );
        assert_eq!(
            lines[14..],
            [
                "",
                "roomcast is 105% of the coalesced floor in a1k (16.0 vs 16.0 frames/write)"
            ]
        );
    }

    #[test]
    fn cluster_scenarios_get_their_own_table() {
        let dir = TempDir::new("cluster");
        dir.result("a1k/roomcast", saturating(2.0e6, 5.0, Some(16.0)));
        let cluster = |dps: f64, redis: bool| {
            let mut run = saturating(dps, 9.0, None);
            run["publisher_url"] = json!("ws://127.0.0.1:1/socket.io/");
            run["nodes"] = json!(if redis { 2 } else { 1 });
            if redis {
                run["redis"] = json!({
                    "publishes_per_broadcast": 1.002,
                    "input_bytes_per_broadcast": 251.4,
                    "output_bytes_per_broadcast": 480.0,
                });
            }
            run
        };
        dir.result("x1k/roomcast", cluster(1.0e6, true));
        dir.result("x1k/roomcast-1node", cluster(1.25e6, false));
        dir.result("x1k/socketio", cluster(0.1e6, true));
        let (results, _) = load(&dir);
        let table = render_table(&results);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines,
            [
                "| scenario | server | result | frames/write | roomcast advantage |",
                "|---|---|---|---:|---:|",
                "| a1k | roomcast | 2.000 M/s, p99 5.0 ms, lost 0, dup 0 | 16.0 | 1.00x |",
                "",
                "| scenario | server | nodes | deliveries/s | p50 / p99 | lost / dup | Redis PUBLISH / broadcast | Redis bytes in / out per broadcast | server CPU | % of one node | roomcast advantage |",
                "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
                "| x1k | roomcast | 2 + Redis | 1.000 M/s | 1.0 ms / 9.0 ms | 0 / 0 | 1.00 | 251 / 480 B | 99% | 80% | 1.00x |",
                "| x1k | roomcast, one node | 1 | 1.250 M/s | 1.0 ms / 9.0 ms | 0 / 0 | - | - / - | 99% | reference | 1.00x |",
                "| x1k | socket.io 4.8 | 2 + Redis | 0.100 M/s | 1.0 ms / 9.0 ms | 0 / 0 | 1.00 | 251 / 480 B | 99% | - | 10.00x |",
            ]
        );
        // Only cluster scenarios: no empty main table.
        let dir = TempDir::new("cluster-only");
        dir.result("x1k/roomcast", cluster(1.0e6, true));
        let (results, _) = load(&dir);
        assert!(render_table(&results).starts_with("| scenario | server | nodes |"));
    }

    #[test]
    fn advantage_math() {
        // a: throughput, roomcast / other.
        let a = advantage(Headline::of("a5k"), Some(3.0e6), Some(1.5e6));
        assert_eq!(a, Some(2.0));
        // b: p99, other / roomcast.
        let b = advantage(Headline::of("b"), Some(2.0), Some(8.0));
        assert_eq!(b, Some(4.0));
        assert_eq!(Headline::of("b20k"), Headline::Latency);
        // d: RSS, other / roomcast.
        let d = advantage(Headline::of("d"), Some(1000.0), Some(3000.0));
        assert_eq!(d, Some(3.0));
        // e: connections/s, roomcast / other.
        let e = advantage(Headline::of("e"), Some(2000.0), Some(8000.0));
        assert_eq!(e, Some(0.25));
        // Missing or zero on either side: no ratio.
        assert_eq!(advantage(Headline::Throughput, None, Some(1.0)), None);
        assert_eq!(advantage(Headline::Throughput, Some(1.0), Some(0.0)), None);
        assert_eq!(advantage(Headline::Latency, Some(0.0), Some(1.0)), None);
    }

    #[test]
    fn missing_fields_and_unknown_names_show_dashes_and_sort_last() {
        let dir = TempDir::new("missing");
        dir.result("zz/roomcast", json!({"deliveries_per_s": 1.0e6}));
        dir.result("a1k/custom", json!({"deliveries_per_s": null}));
        dir.result(
            "a1k/roomcast",
            json!({"deliveries_per_s": 2.0e6, "lost": 3}),
        );
        dir.result("a1k/alpha", json!({"deliveries_per_s": 4.0e6}));
        dir.result("d/roomcast", json!({"server_rss_per_conn_bytes": null}));
        dir.result("d/sails", json!({"server_rss_per_conn_bytes": 4096.0}));
        dir.result("e/sails", json!({}));
        dir.result("b/socketio", json!({"latency_ms": {"p99": 7.0}}));
        let (results, _) = load(&dir);
        let table = render_table(&results);
        let rows: Vec<&str> = table.lines().skip(2).collect();
        assert_eq!(
            rows,
            [
                "| a1k | roomcast | 2.000 M/s, p99 -, lost 3, dup - | - | 1.00x |",
                "| a1k | alpha | 4.000 M/s, p99 -, lost -, dup - | - | 0.50x |",
                "| a1k | custom | -, p99 -, lost -, dup - | - | - |",
                "| b | socket.io 4.8 | -, p99 7.0 ms, lost -, dup - | - | - |",
                "| d | roomcast | - | - | - |",
                "| d | Sails 1.5 | 4,096 B/conn | - | - |",
                "| e | Sails 1.5 | - | - | - |",
                "| zz | roomcast | 1.000 M/s, p99 -, lost -, dup - | - | 1.00x |",
            ]
        );
    }

    #[test]
    fn floor_line_needs_both_roomcast_and_rawbatch() {
        let dir = TempDir::new("floor");
        dir.result("a5k/roomcast", saturating(2.08e6, 6.0, Some(12.5)));
        dir.result("a5k/rawbatch", saturating(2.0e6, 5.0, None));
        dir.result("a15k/roomcast", saturating(1.0e6, 6.0, Some(8.0)));
        dir.result("b/roomcast", saturating(2.0e5, 1.0, Some(8.0)));
        dir.result("b/rawbatch", saturating(2.0e5, 1.0, Some(8.0)));
        let (results, _) = load(&dir);
        assert_eq!(
            floor_lines(&results),
            ["roomcast is 104% of the coalesced floor in a5k (12.5 vs - frames/write)"]
        );
    }

    #[test]
    fn floor_line_takes_the_mean_of_repeated_runs() {
        // compare.sh --servers roomcast,rawbatch,roomcast,rawbatch: the second
        // runs are "… (run 2)"; one pair alone would say 80 % here.
        let dir = TempDir::new("floor-repeats");
        dir.result("a1k/roomcast", saturating(1.6e6, 6.0, Some(16.0)));
        dir.result("a1k/roomcast (run 2)", saturating(2.0e6, 6.0, Some(16.0)));
        dir.result("a1k/rawbatch", saturating(2.0e6, 5.0, Some(16.0)));
        dir.result("a1k/rawbatch (run 2)", saturating(2.0e6, 5.0, Some(16.0)));
        let (results, _) = load(&dir);
        assert_eq!(
            floor_lines(&results),
            ["roomcast is 90% of the coalesced floor in a1k (means of 2 and 2 runs; 16.0 vs 16.0 frames/write)"]
        );
    }

    #[test]
    fn bad_files_are_skipped_with_warnings() {
        let dir = sample_dir();
        dir.write("broken.json", "{ not json");
        dir.write("nolabel.json", r#"{"deliveries_per_s": 1.0}"#);
        dir.write("badlabel.json", r#"{"label": "noslash"}"#);
        dir.write("notes.txt", "not a result");
        let (results, warnings) = load(&dir);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("broken.json")));
        assert!(warnings.iter().any(|w| w.contains("nolabel.json")));
        assert!(warnings.iter().any(|w| w.contains("\"noslash\"")));
        assert_eq!(results.scenarios(), ["a1k", "b", "b20k", "d", "e"]);
    }

    #[test]
    fn run_writes_table_and_chart() {
        let dir = sample_dir();
        let mut warnings = Vec::new();
        let report = run(&dir.0, &mut warnings).expect("report");
        let written = fs::read_to_string(dir.0.join("table.md")).expect("table.md");
        assert_eq!(written, report.table);
        assert_eq!(report.chart_path, dir.0.join("chart.svg"));
        let svg = fs::read_to_string(&report.chart_path).expect("chart.svg");
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        let texts = svg_texts(&svg);
        for name in [
            "roomcast",
            "socketioxide 0.18",
            "socket.io 4.8",
            "floor, 1 write/delivery",
            "floor, coalesced",
        ] {
            assert!(texts.contains(&name), "legend lacks {name}: {texts:?}");
        }
        assert!(!svg.contains("Sails 1.5"), "sails did not run");
        for title in [TITLE_THROUGHPUT, TITLE_LATENCY, TITLE_RSS, TITLE_CONNECT] {
            assert!(texts.contains(&title), "chart lacks panel {title:?}");
        }
        for title in [TITLE_THROUGHPUT, TITLE_CONNECT] {
            assert!(title.contains("higher is better"));
        }
        for title in [TITLE_LATENCY, TITLE_RSS] {
            assert!(title.contains("lower is better"));
        }
        // Value labels on bars, group labels under them.
        for label in [
            "2.84",
            "18,581",
            "0.21",
            "1 k clients",
            "200 k deliveries/s",
        ] {
            assert!(texts.contains(&label), "chart lacks text {label:?}");
        }
        assert!(svg.contains(r##"fill="#D9480F""##), "roomcast's colour");
    }

    #[test]
    fn chart_has_only_panels_with_data() {
        let dir = TempDir::new("panels");
        dir.result("a1k/roomcast", saturating(2.0e6, 5.0, Some(16.0)));
        dir.result("a1k/sails", saturating(0.1e6, 90.0, None));
        dir.result("c/roomcast", saturating(3.0e6, 5.0, None));
        let (results, _) = load(&dir);
        let svg = render_chart(&results).expect("chart");
        let texts = svg_texts(&svg);
        assert!(texts.contains(&TITLE_THROUGHPUT));
        assert!(texts.contains(&"Sails 1.5"));
        for absent in [TITLE_LATENCY, TITLE_RSS, TITLE_CONNECT] {
            assert!(!svg.contains(absent), "unexpected panel {absent:?}");
        }
    }

    #[test]
    fn empty_or_missing_dir_is_an_error() {
        let dir = TempDir::new("empty");
        let mut warnings = Vec::new();
        let err = run(&dir.0, &mut warnings).expect_err("empty dir");
        assert!(matches!(err, ReportError::NoResults(_)), "{err}");
        assert_eq!(err.exit_code(), 2);

        dir.write("junk.json", "[]");
        let err = run(&dir.0, &mut warnings).expect_err("no usable result");
        assert!(matches!(err, ReportError::NoResults(_)), "{err}");
        assert_eq!(warnings.len(), 1);

        let missing = dir.0.join("does-not-exist");
        let err = run(&missing, &mut warnings).expect_err("missing dir");
        assert!(matches!(err, ReportError::MissingDir(_)), "{err}");
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("does-not-exist"));
    }

    #[test]
    fn number_formatting() {
        assert_eq!(thousands(2310.144), "2,310");
        assert_eq!(thousands(18_581.2), "18,581");
        assert_eq!(thousands(999.6), "1,000");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(thousands(12.0), "12");
        assert_eq!(axis_label(0.5), "0.5");
        assert_eq!(axis_label(2.0), "2");
        assert_eq!(axis_label(0.001), "0.001");
        assert_eq!(axis_label(20_000.0), "20,000");
        assert_eq!(bar_label(2.838), "2.84");
        assert_eq!(bar_label(0.21), "0.21");
        assert_eq!(bar_label(0.042), "0.042");
        assert_eq!(bar_label(19_530.19), "19,530");
    }
}
