//! The run as an SVG chart, written by hand (no plotting dependency): throughput by method,
//! throughput by object size, and the cost breakdown of one load.

use std::fmt::Write as _;

use crate::report::{thousands, Method, Report};

const WIDTH: f64 = 960.0;
const LABEL_X: f64 = 330.0;
const PLOT_X: f64 = 340.0;
const PLOT_W: f64 = 470.0;
const ROW_H: f64 = 28.0;
const BAR_H: f64 = 18.0;
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f",
    "#ff9da7", "#86bcb6",
];

/// One horizontal bar: a median with an optional min..max whisker.
struct Bar {
    label: String,
    value: f64,
    range: Option<(f64, f64)>,
    color: &'static str,
}

/// The chart of a report.
pub fn render(r: &Report) -> String {
    let mut body = String::new();
    let mut y = 30.0;
    let reps = r.methods.first().map_or(0, |m| m.secs.n);
    let title = format!(
        "loader end-to-end: {} cores, {}, PostgreSQL {} ({})",
        r.machine.nproc,
        r.machine.cpu_model,
        r.machine.postgres.split_whitespace().nth(1).unwrap_or("?"),
        r.machine.date
    );
    text(&mut body, 12.0, y, 16.0, "bold", &title);
    y += 34.0;

    let mut by_method = Vec::new();
    let main_rows = r.method(Method::File).map(|m| m.rows);
    for (i, m) in r.methods.iter().enumerate() {
        if m.method == Method::Small || Some(m.rows) != main_rows {
            continue;
        }
        by_method.push(Bar {
            label: m.label.clone(),
            value: m.rows_per_sec.median,
            range: Some((m.rows_per_sec.min, m.rows_per_sec.max)),
            color: PALETTE[i % PALETTE.len()],
        });
    }
    if let Some(l) = &r.legacy {
        by_method.push(Bar {
            label: format!(
                "original design without its trigger ({} rows)",
                thousands(l.without_trigger.rows as f64)
            ),
            value: l.without_trigger.rows_per_sec,
            range: None,
            color: "#d4cbc8",
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
            });
        }
    }
    if !by_method.is_empty() {
        let heading = format!(
            "Throughput by method, {} rows, rows/s (median of {reps}; whiskers: min-max)",
            thousands(main_rows.unwrap_or(0) as f64)
        );
        y = bar_panel(&mut body, y, &heading, &by_method);
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
            color: PALETTE[3],
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
            color: PALETTE[3],
        });
    }
    for m in [Method::Small, Method::File] {
        if let Some(s) = r.method(m) {
            by_size.push(Bar {
                label: format!("{} rows, fresh database", thousands(s.rows as f64)),
                value: s.rows_per_sec.median,
                range: Some((s.rows_per_sec.min, s.rows_per_sec.max)),
                color: PALETTE[1],
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
            color: PALETTE[1],
        });
    }
    if !by_size.is_empty() {
        y = bar_panel(
            &mut body,
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
        text(&mut body, 12.0, y, 14.0, "bold", &heading);
        y += 12.0;
        let (x0, w) = (12.0, WIDTH - 24.0);
        let mut x = x0;
        for (i, step) in b.steps.iter().enumerate() {
            let seg = w * step.share;
            let _ = writeln!(
                body,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{seg:.1}" height="{BAR_H}" fill="{}"><title>{}</title></rect>"#,
                PALETTE[i % PALETTE.len()],
                escape(&step.name)
            );
            x += seg;
        }
        y += BAR_H + 18.0;
        for (i, step) in b.steps.iter().enumerate() {
            let col = (i % 2) as f64;
            let lx = 12.0 + col * 470.0;
            let _ = writeln!(
                body,
                r#"<rect x="{lx:.1}" y="{:.1}" width="10" height="10" fill="{}"/>"#,
                y - 9.0,
                PALETTE[i % PALETTE.len()]
            );
            let line = format!(
                "{}: {:.3} s ({:.1}%)",
                step.name,
                step.secs.median,
                step.share * 100.0
            );
            text(&mut body, lx + 16.0, y, 12.0, "normal", &line);
            if col == 1.0 || i + 1 == b.steps.len() {
                y += 18.0;
            }
        }
        y += 12.0;
    }

    text(&mut body, 12.0, y, 11.0, "normal", &r.command);
    y += 16.0;
    let note = format!(
        "load average at start {}, at end {} | git {} | {:.0} s in all",
        r.machine.load_average_at_start,
        r.load_average_at_end,
        r.machine.git.as_deref().unwrap_or("?"),
        r.total_secs
    );
    text(&mut body, 12.0, y, 11.0, "normal", &note);
    y += 12.0;

    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{y:.0}\" viewBox=\"0 0 {WIDTH} {y:.0}\" font-family=\"Helvetica, Arial, sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{body}</svg>\n"
    )
}

/// A titled panel of horizontal bars with an x axis; returns the y below it.
fn bar_panel(out: &mut String, mut y: f64, heading: &str, bars: &[Bar]) -> f64 {
    text(out, 12.0, y, 14.0, "bold", heading);
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
            out,
            r#"<text x="{LABEL_X}" y="{:.1}" font-size="12" text-anchor="end">{}</text>"#,
            mid + 4.0,
            escape(&bar.label)
        );
        let w = (scale(bar.value) - PLOT_X).max(1.0);
        let _ = writeln!(
            out,
            r#"<rect x="{PLOT_X}" y="{:.1}" width="{w:.1}" height="{BAR_H}" fill="{}"/>"#,
            mid - BAR_H / 2.0,
            bar.color
        );
        let mut end = PLOT_X + w;
        if let Some((lo, hi)) = bar.range {
            let (x1, x2) = (scale(lo), scale(hi));
            let _ = writeln!(
                out,
                r##"<path d="M{x1:.1} {mid:.1}H{x2:.1}M{x1:.1} {:.1}V{:.1}M{x2:.1} {:.1}V{:.1}" stroke="#333" fill="none"/>"##,
                mid - 5.0,
                mid + 5.0,
                mid - 5.0,
                mid + 5.0
            );
            end = end.max(x2);
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="12">{}</text>"#,
            end + 6.0,
            mid + 4.0,
            thousands(bar.value)
        );
        y += ROW_H;
    }
    let _ = writeln!(
        out,
        r##"<path d="M{PLOT_X} {top:.1}V{y:.1}H{:.1}" stroke="#999" fill="none"/>"##,
        PLOT_X + PLOT_W
    );
    for i in 0..=5 {
        let v = axis_max * f64::from(i) / 5.0;
        let x = scale(v);
        let _ = writeln!(
            out,
            r##"<path d="M{x:.1} {y:.1}v4" stroke="#999"/><text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#555">{}</text>"##,
            y + 16.0,
            si(v)
        );
    }
    y + 46.0
}

fn text(out: &mut String, x: f64, y: f64, size: f64, weight: &str, content: &str) {
    let _ = writeln!(
        out,
        r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" font-weight="{weight}">{}</text>"#,
        escape(content)
    );
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
    fn text_is_escaped() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
