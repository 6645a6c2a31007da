//! The run as an SVG chart, written by hand (no plotting dependency): throughput by method
//! (the loader, the ceiling and floor, the peers' raw loads and same jobs), peak RSS, throughput
//! by object size, and the cost breakdown of one load. The picture is as wide as its longest
//! text line (estimated), so nothing is cut at the right edge.

use std::fmt::Write as _;

use crate::report::{thousands, Method, Report};

const WIDTH: f64 = 1100.0;
const LABEL_X: f64 = 370.0;
const PLOT_X: f64 = 380.0;
const PLOT_W: f64 = 470.0;
const ROW_H: f64 = 26.0;
const BAR_H: f64 = 16.0;
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f",
    "#ff9da7", "#86bcb6",
];
/// Colours by kind of method: the loader, a second loader binary, the ceiling and floor,
/// other tools' raw loads, their same jobs.
const LOADER: &str = "#4e79a7";
const BASELINE: &str = "#86bcb6";
const BOUND: &str = "#59a14f";
const RAW_PEER: &str = "#bab0ac";
const SAME_JOB: &str = "#f28e2b";

/// One horizontal bar: a median with an optional min..max whisker, and what to print after it.
struct Bar {
    label: String,
    value: f64,
    range: Option<(f64, f64)>,
    color: &'static str,
    note: String,
}

/// The SVG body being written, and how far right its text reaches, so the picture is made
/// wide enough for it (a legend line longer than the page used to be cut at its edge).
#[derive(Default)]
struct Canvas {
    body: String,
    right: f64,
}

impl Canvas {
    /// Text anchored at its start.
    fn text(&mut self, x: f64, y: f64, size: f64, weight: &str, content: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" font-weight="{weight}">{}</text>"#,
            escape(content)
        );
        self.right = self.right.max(x + text_width(content, size, weight));
    }
}

impl Canvas {
    /// Normal-weight text broken at spaces into lines that fit the picture's width; returns
    /// the y of the line after it.
    fn wrapped(&mut self, x: f64, mut y: f64, size: f64, content: &str) -> f64 {
        let room = WIDTH - x - 12.0;
        let mut line = String::new();
        for word in content.split(' ') {
            let longer = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if !line.is_empty() && text_width(&longer, size, "normal") > room {
                self.text(x, y, size, "normal", &line);
                y += size + 3.0;
                line = format!("    {word}");
            } else {
                line = longer;
            }
        }
        self.text(x, y, size, "normal", &line);
        y + size + 3.0
    }
}

/// A generous estimate of a Helvetica/Arial line's width: the chart must hold it whatever
/// font the viewer substitutes.
fn text_width(content: &str, size: f64, weight: &str) -> f64 {
    let per_char = if weight == "bold" { 0.62 } else { 0.56 };
    content.chars().count() as f64 * size * per_char
}

fn color_of(method: Method) -> &'static str {
    if method == Method::Baseline {
        BASELINE
    } else if matches!(method, Method::Ceiling | Method::Floor) {
        BOUND
    } else if method.is_same_job() {
        SAME_JOB
    } else if method.is_raw_peer() {
        RAW_PEER
    } else {
        LOADER
    }
}

/// The chart of a report.
pub fn render(r: &Report) -> String {
    let mut c = Canvas::default();
    let mut y = 30.0;
    let reps = r.methods.first().map_or(0, |m| m.secs.n);
    let title = format!(
        "loader end-to-end: {} cores, {}, PostgreSQL {} ({})",
        r.machine.nproc,
        r.machine.cpu_model,
        r.machine.postgres.split_whitespace().nth(1).unwrap_or("?"),
        r.machine.date
    );
    c.text(12.0, y, 16.0, "bold", &title);
    y += 34.0;

    let main_rows = r.method(Method::File).map(|m| m.rows);
    let mut main: Vec<_> = r
        .methods
        .iter()
        .filter(|m| m.method != Method::Small && Some(m.rows) == main_rows)
        .collect();
    // Fastest first within each kind: the bounds, the loader, the peers' raw loads, the same jobs.
    let rank = |m: Method| match color_of(m) {
        BOUND => 0,
        LOADER | BASELINE => 1,
        RAW_PEER => 2,
        _ => 3,
    };
    main.sort_by(|a, b| {
        rank(a.method)
            .cmp(&rank(b.method))
            .then(a.secs.median.total_cmp(&b.secs.median))
    });
    let mut by_method: Vec<Bar> = main
        .iter()
        .map(|m| {
            let mut note = format!("({:.2} s", m.secs.median);
            if let Some(x) = m.vs_ceiling {
                let _ = write!(note, ", {x:.2}x ceiling");
            }
            if let Some(x) = m.vs_floor {
                let _ = write!(note, ", {x:.2}x floor");
            }
            note.push(')');
            Bar {
                label: m.label.clone(),
                value: m.rows_per_sec.median,
                range: Some((m.rows_per_sec.min, m.rows_per_sec.max)),
                color: color_of(m.method),
                note,
            }
        })
        .collect();
    if let Some(l) = &r.legacy {
        by_method.push(Bar {
            label: format!(
                "original design without its trigger ({} rows)",
                thousands(l.without_trigger.rows as f64)
            ),
            value: l.without_trigger.rows_per_sec,
            range: None,
            color: "#d4cbc8",
            note: String::new(),
        });
        for f in [l.files.first(), l.files.last()].into_iter().flatten() {
            by_method.push(Bar {
                label: format!(
                    "original design, file {} of {} ({}-row files)",
                    f.file,
                    l.files.len(),
                    thousands(l.rows_per_file as f64)
                ),
                value: f.rows_per_sec,
                range: None,
                color: "#bab0ac",
                note: String::new(),
            });
        }
    }
    if !by_method.is_empty() {
        let heading = format!(
            "Throughput by method, {} rows, rows/s (median of {reps}; whiskers: min-max)",
            thousands(main_rows.unwrap_or(0) as f64)
        );
        y = bar_panel(&mut c, y, &heading, &by_method);
        let mut keys = vec![
            (LOADER, "loader: full star schema, exactly once"),
            (BOUND, "ceiling and floor: raw rows, no trigger"),
            (RAW_PEER, "another tool: raw rows"),
            (SAME_JOB, "another tool + star.sql: the same job"),
        ];
        if r.baseline.is_some() {
            keys.push((
                BASELINE,
                "baseline: a second loader binary, full star schema",
            ));
        }
        y = legend(&mut c, y - 12.0, &keys);
    }

    let rss: Vec<Bar> = main
        .iter()
        .filter(|m| m.max_rss_kib > 0 && !m.method.is_same_job())
        .map(|m| Bar {
            label: m.label.clone(),
            value: m.max_rss_kib as f64 / 1024.0,
            range: None,
            color: color_of(m.method),
            note: " MiB".into(),
        })
        .collect();
    if !rss.is_empty() {
        y = bar_panel(
            &mut c,
            y,
            "Peak RSS of the client process, MiB (largest of the repetitions)",
            &rss,
        );
    }

    let mut by_size = Vec::new();
    if let Some(o) = &r.objects {
        let rate = |secs: f64| o.rows_per_object as f64 / secs;
        by_size.push(Bar {
            label: format!(
                "{} rows, object 1 of {} into one database",
                thousands(o.rows_per_object as f64),
                o.objects
            ),
            value: rate(o.first_secs),
            range: None,
            color: BASELINE,
            note: String::new(),
        });
        by_size.push(Bar {
            label: format!(
                "{} rows, object {} of {} into one database",
                thousands(o.rows_per_object as f64),
                o.objects,
                o.objects
            ),
            value: rate(o.last_secs),
            range: None,
            color: BASELINE,
            note: String::new(),
        });
    }
    for m in [Method::Small, Method::File] {
        if let Some(s) = r.method(m) {
            by_size.push(Bar {
                label: format!("{} rows, fresh database", thousands(s.rows as f64)),
                value: s.rows_per_sec.median,
                range: Some((s.rows_per_sec.min, s.rows_per_sec.max)),
                color: LOADER,
                note: String::new(),
            });
        }
    }
    if let Some(b) = &r.big {
        by_size.push(Bar {
            label: format!(
                "{} rows ({:.0} MB), fresh database",
                thousands(b.rows as f64),
                b.bytes as f64 / 1e6
            ),
            value: b.rows as f64 / b.secs,
            range: None,
            color: LOADER,
            note: String::new(),
        });
    }
    if !by_size.is_empty() {
        y = bar_panel(
            &mut c,
            y,
            "Loader (file, COPY binary) by object size, rows/s (series: each object's own time)",
            &by_size,
        );
    }

    if let Some(b) = &r.breakdown {
        let heading = format!(
            "Cost of one load of {} rows, step by step ({:.2} s in all)",
            thousands(b.rows as f64),
            b.total_secs
        );
        c.text(12.0, y, 14.0, "bold", &heading);
        y += 12.0;
        let (x0, w) = (12.0, WIDTH - 24.0);
        let mut x = x0;
        for (i, step) in b.steps.iter().enumerate() {
            let seg = w * step.share;
            let _ = writeln!(
                c.body,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{seg:.1}" height="{BAR_H}" fill="{}"><title>{}</title></rect>"#,
                PALETTE[i % PALETTE.len()],
                escape(&step.name)
            );
            x += seg;
        }
        y += BAR_H + 18.0;
        let entries: Vec<(&str, String)> = b
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                (
                    PALETTE[i % PALETTE.len()],
                    format!(
                        "{}: {:.3} s ({:.1}%)",
                        step.name,
                        step.secs.median,
                        step.share * 100.0
                    ),
                )
            })
            .collect();
        y = legend(&mut c, y, &entries) + 12.0;
    }

    for p in &r.peers {
        y = c.wrapped(
            12.0,
            y,
            11.0,
            &format!("{} {}: {}", p.name, p.version, p.how),
        );
    }
    if let Some(b) = &r.baseline {
        y = c.wrapped(12.0, y, 11.0, b);
    }
    y = c.wrapped(12.0, y, 11.0, &r.command) + 2.0;
    let note = format!(
        "load average at start {}, at end {} | git {} | {:.0} s in all",
        r.machine.load_average_at_start,
        r.load_average_at_end,
        r.machine.git.as_deref().unwrap_or("?"),
        r.total_secs
    );
    y = c.wrapped(12.0, y, 11.0, &note);

    let width = WIDTH.max((c.right + 12.0).ceil());
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{y:.0}\" viewBox=\"0 0 {width} {y:.0}\" font-family=\"Helvetica, Arial, sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{}</svg>\n",
        c.body
    )
}

/// Colour keys with their text, in two columns when every entry fits in one, else one per
/// line; returns the y below them.
fn legend<S: AsRef<str>>(c: &mut Canvas, mut y: f64, entries: &[(&str, S)]) -> f64 {
    let column = (WIDTH - 24.0) / 2.0;
    let fits = entries
        .iter()
        .all(|(_, t)| 16.0 + text_width(t.as_ref(), 12.0, "normal") < column - 8.0);
    let columns = if fits { 2 } else { 1 };
    for (i, (color, line)) in entries.iter().enumerate() {
        let col = (i % columns) as f64;
        let lx = 12.0 + col * column;
        let _ = writeln!(
            c.body,
            r#"<rect x="{lx:.1}" y="{:.1}" width="10" height="10" fill="{color}"/>"#,
            y - 9.0
        );
        c.text(lx + 16.0, y, 12.0, "normal", line.as_ref());
        if i % columns == columns - 1 || i + 1 == entries.len() {
            y += 18.0;
        }
    }
    y + 12.0
}

/// A titled panel of horizontal bars with an x axis; returns the y below it.
fn bar_panel(c: &mut Canvas, mut y: f64, heading: &str, bars: &[Bar]) -> f64 {
    c.text(12.0, y, 14.0, "bold", heading);
    y += 10.0;
    let top = y;
    let peak = bars
        .iter()
        .map(|b| b.range.map_or(b.value, |r| r.1).max(b.value))
        .fold(0.0, f64::max);
    let axis_max = nice_ceiling(peak);
    let scale = |v: f64| PLOT_X + PLOT_W * (v / axis_max).clamp(0.0, 1.0);
    for bar in bars {
        let mid = y + ROW_H / 2.0;
        let _ = writeln!(
            c.body,
            r#"<text x="{LABEL_X}" y="{:.1}" font-size="12" text-anchor="end">{}</text>"#,
            mid + 4.0,
            escape(&bar.label)
        );
        let w = (scale(bar.value) - PLOT_X).max(1.0);
        let _ = writeln!(
            c.body,
            r#"<rect x="{PLOT_X}" y="{:.1}" width="{w:.1}" height="{BAR_H}" fill="{}"/>"#,
            mid - BAR_H / 2.0,
            bar.color
        );
        let mut end = PLOT_X + w;
        if let Some((lo, hi)) = bar.range {
            let (x1, x2) = (scale(lo), scale(hi));
            let _ = writeln!(
                c.body,
                r##"<path d="M{x1:.1} {mid:.1}H{x2:.1}M{x1:.1} {:.1}V{:.1}M{x2:.1} {:.1}V{:.1}" stroke="#333" fill="none"/>"##,
                mid - 5.0,
                mid + 5.0,
                mid - 5.0,
                mid + 5.0
            );
            end = end.max(x2);
        }
        let value = if bar.value < 1000.0 {
            format!("{:.1}", bar.value)
        } else {
            thousands(bar.value)
        };
        let sep = if bar.note.starts_with(' ') || bar.note.is_empty() {
            ""
        } else {
            "  "
        };
        c.text(
            end + 6.0,
            mid + 4.0,
            12.0,
            "normal",
            &format!("{value}{sep}{}", bar.note),
        );
        y += ROW_H;
    }
    let _ = writeln!(
        c.body,
        r##"<path d="M{PLOT_X} {top:.1}V{y:.1}H{:.1}" stroke="#999" fill="none"/>"##,
        PLOT_X + PLOT_W
    );
    for i in 0..=5 {
        let v = axis_max * f64::from(i) / 5.0;
        let x = scale(v);
        let _ = writeln!(
            c.body,
            r##"<path d="M{x:.1} {y:.1}v4" stroke="#999"/><text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#555">{}</text>"##,
            y + 16.0,
            si(v)
        );
    }
    y + 46.0
}

/// The smallest of 1, 2, 2.5, 5 times a power of ten that is at least `v`.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let exp = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * exp)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * exp)
}

/// 250000 -> "250k", 1200000 -> "1.2M".
fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_string)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_ends_on_a_round_number() {
        assert_eq!(nice_ceiling(430_000.0), 500_000.0);
        assert_eq!(nice_ceiling(190.0), 200.0);
        assert_eq!(nice_ceiling(2_100.0), 2_500.0);
        assert_eq!(nice_ceiling(1_000.0), 1_000.0);
    }

    #[test]
    fn short_axis_labels() {
        assert_eq!(si(250_000.0), "250k");
        assert_eq!(si(1_200_000.0), "1.2M");
        assert_eq!(si(0.0), "0");
    }

    #[test]
    fn the_picture_holds_its_longest_line() {
        let mut c = Canvas::default();
        c.text(12.0, 10.0, 12.0, "normal", &"x".repeat(300));
        assert!(c.right > WIDTH, "{}", c.right);
        let mut narrow = Canvas::default();
        let long = "a step whose name is longer than half of the picture's width, which the \
                    legend of the cost breakdown used to cut: 1.234 s";
        let y = legend(&mut narrow, 20.0, &[("#000", long), ("#111", long)]);
        // Too long for two columns: one line each.
        assert_eq!(y, 20.0 + 2.0 * 18.0 + 12.0);
        assert!(narrow.right < WIDTH, "{}", narrow.right);
    }

    #[test]
    fn long_lines_are_wrapped() {
        let mut c = Canvas::default();
        let y = c.wrapped(12.0, 100.0, 11.0, &"word ".repeat(100));
        assert!(y > 100.0 + 2.0 * 14.0, "{y}");
        assert!(c.right <= WIDTH, "{}", c.right);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
