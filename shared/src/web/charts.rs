//! Bar charts drawn on the server as inline SVG (the pages run no scripts
//! and the CSP allows no inline style, so colours are SVG attributes): one
//! bar per day and series, a scale from zero, a `<title>` and `<desc>` for
//! screen readers. Pure: figures in, markup out; every text is escaped by
//! maud. The numbers themselves are the page's tables; a chart only draws.

use chrono::NaiveDate;
use maud::{html, Markup};

/// What a chart's values are.
#[derive(Debug, Clone, Copy)]
pub enum Scale {
    /// Seconds, shown in the unit that suits the largest value.
    Duration(DurationUnits),
    /// Shares 0..=1, shown as percent from 0 to 100.
    Share,
}

/// The words for the duration units, shortest first.
#[derive(Debug, Clone, Copy)]
pub struct DurationUnits {
    pub seconds: &'static str,
    pub minutes: &'static str,
    pub hours: &'static str,
    pub days: &'static str,
}

/// One series: a value (or nothing) per day.
#[derive(Debug, Clone)]
pub struct Series<'a> {
    pub name: &'a str,
    pub values: Vec<Option<f64>>,
}

/// A chart of figures per day.
#[derive(Debug, Clone)]
pub struct Chart<'a> {
    /// The element id (its title and description ids derive from it).
    pub id: &'a str,
    pub title: &'a str,
    pub desc: &'a str,
    /// Shown when no day has a value.
    pub empty: &'a str,
    pub scale: Scale,
    pub days: &'a [NaiveDate],
    pub series: Vec<Series<'a>>,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 30.0;
/// Series colours: dark blue, light blue (distinct in grey too).
const COLOURS: [&str; 2] = ["#1f6feb", "#8fb8f5"];
const INK: &str = "#5a6570";
const GRID: &str = "#e3e6ea";

/// The unit (divisor, word) in which `max` seconds reads best.
fn duration_unit(max: f64, u: &DurationUnits) -> (f64, &'static str) {
    if max < 120.0 {
        (1.0, u.seconds)
    } else if max < 2.0 * 3600.0 {
        (60.0, u.minutes)
    } else if max < 2.0 * 86_400.0 {
        (3600.0, u.hours)
    } else {
        (86_400.0, u.days)
    }
}

/// The smallest of 1, 2, 5 × 10^k that is at least `x` (> 0).
fn nice_step(x: f64) -> f64 {
    let p = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= x * (1.0 - 1e-9))
        .unwrap_or(10.0 * p)
}

/// The axis: its step and number of steps (at most four) for `max` (> 0).
fn axis(max: f64) -> (f64, u32) {
    let step = nice_step(max / 4.0);
    (step, ((max / step) - 1e-9).ceil().max(1.0) as u32)
}

fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    format!("{v:.decimals$}")
}

fn num(v: f64) -> String {
    format!("{v:.1}")
}

/// The chart as an inline `<svg>`.
pub fn svg(chart: &Chart) -> Markup {
    let title_id = format!("{}-title", chart.id);
    let desc_id = format!("{}-desc", chart.id);
    let all: Vec<f64> = chart
        .series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied())
        .filter(|v| v.is_finite())
        .collect();
    let max = all.iter().copied().fold(0.0, f64::max);
    let (divisor, unit) = match chart.scale {
        Scale::Duration(u) => duration_unit(max, &u),
        Scale::Share => (0.01, "%"),
    };
    let scaled_max = match chart.scale {
        Scale::Share => 100.0,
        Scale::Duration(_) => max / divisor,
    };
    let (step, steps) = axis(if scaled_max > 0.0 { scaled_max } else { 1.0 });
    let top = step * f64::from(steps);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y_of = |v: f64| TOP + plot_h - (v / top).clamp(0.0, 1.0) * plot_h;
    let n = chart.days.len().max(1);
    let slot = plot_w / n as f64;
    let k = chart.series.len().max(1);
    let bar = (slot * 0.8 / k as f64).max(0.5);
    // At most seven dates under the axis.
    let label_every = n.div_ceil(7).max(1);
    html! {
        svg #(chart.id) xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
            width="100%" role="img" aria-labelledby={ (title_id) " " (desc_id) }
            font-family="system-ui, sans-serif" font-size="15" {
            title #(title_id) { (chart.title) }
            desc #(desc_id) { (chart.desc) }
            // Grid and scale.
            @for i in 0..=steps {
                @let v = step * f64::from(i);
                @let y = num(y_of(v));
                line x1=(num(LEFT)) x2=(num(WIDTH - RIGHT)) y1=(y) y2=(y) stroke=(GRID) stroke-width="1" {}
                text x=(num(LEFT - 6.0)) y=(num(y_of(v) + 4.0)) text-anchor="end" fill=(INK) { (tick_label(v, step)) }
            }
            text x=(num(LEFT - 6.0)) y="14" text-anchor="end" fill=(INK) { (unit) }
            // Legend.
            @if chart.series.len() > 1 {
                @for (i, s) in chart.series.iter().enumerate() {
                    @let x = LEFT + 110.0 * i as f64;
                    rect x=(num(x)) y="6" width="10" height="10" fill=(COLOURS[i % COLOURS.len()]) {}
                    text x=(num(x + 14.0)) y="15" fill=(INK) { (s.name) }
                }
            }
            // Bars.
            @for (d, day) in chart.days.iter().enumerate() {
                @for (i, s) in chart.series.iter().enumerate() {
                    @if let Some(v) = s.values.get(d).copied().flatten().filter(|v| v.is_finite()) {
                        @let x = LEFT + slot * d as f64 + slot * 0.1 + bar * i as f64;
                        @let y = y_of(v / divisor);
                        rect x=(num(x)) y=(num(y)) width=(num(bar)) height=(num(TOP + plot_h - y))
                            fill=(COLOURS[i % COLOURS.len()]) {
                            title { (day) " · " (s.name) ": " (tick_label(v / divisor, step / 10.0)) " " (unit) }
                        }
                    }
                }
            }
            // Days.
            @for (d, day) in chart.days.iter().enumerate() {
                @if d % label_every == 0 {
                    text x=(num(LEFT + slot * (d as f64 + 0.5))) y=(num(HEIGHT - 8.0)) text-anchor="middle" fill=(INK) {
                        (day.format("%m-%d"))
                    }
                }
            }
            line x1=(num(LEFT)) x2=(num(WIDTH - RIGHT)) y1=(num(TOP + plot_h)) y2=(num(TOP + plot_h)) stroke=(INK) stroke-width="1" {}
            @if all.is_empty() {
                text.empty x=(num(LEFT + plot_w / 2.0)) y=(num(TOP + plot_h / 2.0)) text-anchor="middle" fill=(INK) font-size="18" {
                    (chart.empty)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNITS: DurationUnits = DurationUnits {
        seconds: "s",
        minutes: "min",
        hours: "h",
        days: "d",
    };

    fn days(n: u32) -> Vec<NaiveDate> {
        (0..n)
            .map(|i| {
                NaiveDate::from_ymd_opt(2026, 12, 1).unwrap() + chrono::Duration::days(i.into())
            })
            .collect()
    }

    fn count(s: &str, what: &str) -> usize {
        s.matches(what).count()
    }

    #[test]
    fn bars_are_drawn_per_day_and_series_scaled_to_the_largest() {
        let d = days(3);
        let chart = Chart {
            id: "decision",
            title: "Time to decision",
            desc: "Median and 90th percentile per day",
            empty: "No data",
            scale: Scale::Duration(UNITS),
            days: &d,
            series: vec![
                Series {
                    name: "p50",
                    values: vec![Some(30.0), None, Some(600.0)],
                },
                Series {
                    name: "p90",
                    values: vec![Some(60.0), None, Some(1_200.0)],
                },
            ],
        };
        let s = svg(&chart).into_string();
        assert!(s.starts_with("<svg id=\"decision\""), "{s}");
        assert!(s.contains("<title id=\"decision-title\">Time to decision</title>"));
        assert!(s.contains("<desc id=\"decision-desc\">Median and 90th"));
        assert!(s.contains("aria-labelledby=\"decision-title decision-desc\""));
        // 4 bars + 2 legend boxes; the gap day draws none.
        assert_eq!(count(&s, "<rect"), 6, "{s}");
        // 1,200 s reads best in minutes: a scale of 0..20 min in steps of 5.
        assert!(s.contains(">min</text>"), "{s}");
        assert!(s.contains(">20</text>"), "{s}");
        assert!(!s.contains(">25</text>"), "{s}");
        assert!(
            s.contains("<title>2026-12-03 · p90: 20.0 min</title>"),
            "{s}"
        );
        // The tallest bar fills the plot: from the top line to the axis.
        assert!(s.contains("y=\"28.0\" width="), "{s}");
        assert!(!s.contains("No data"));
        // Nothing the CSP would refuse.
        assert!(!s.contains("style") && !s.contains("script"));
    }

    #[test]
    fn shares_run_from_zero_to_a_hundred_percent() {
        let d = days(2);
        let chart = Chart {
            id: "auto",
            title: "Decided automatically",
            desc: "Share per day",
            empty: "No data",
            scale: Scale::Share,
            days: &d,
            series: vec![Series {
                name: "share",
                values: vec![Some(0.5), Some(1.0)],
            }],
        };
        let s = svg(&chart).into_string();
        assert!(s.contains(">100</text>") && s.contains(">%</text>"), "{s}");
        assert!(s.contains("share: 50 %"), "{s}");
        // One series: no legend.
        assert_eq!(count(&s, "<rect"), 2, "{s}");
    }

    #[test]
    fn text_is_escaped() {
        let d = days(1);
        let chart = Chart {
            id: "x",
            title: "<script>alert(1)</script>",
            desc: "a & b \"quoted\"",
            empty: "<b>none</b>",
            scale: Scale::Share,
            days: &d,
            series: vec![Series {
                name: "<i>",
                values: vec![Some(0.1)],
            }],
        };
        let s = svg(&chart).into_string();
        assert!(s.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{s}");
        assert!(s.contains("a &amp; b &quot;quoted&quot;"), "{s}");
        assert!(s.contains("&lt;i&gt;: 10 %"), "{s}");
        assert!(!s.contains("<script") && !s.contains("<i>"));
    }

    #[test]
    fn empty_data_still_draws_the_frame_and_says_so() {
        for n in [0, 30] {
            let d = days(n);
            let chart = Chart {
                id: "refund",
                title: "Refund arrival",
                desc: "per day",
                empty: "No figures in these days",
                scale: Scale::Duration(UNITS),
                days: &d,
                series: vec![Series {
                    name: "p50",
                    values: vec![None; n as usize],
                }],
            };
            let s = svg(&chart).into_string();
            assert!(s.contains("No figures in these days"), "{s}");
            assert_eq!(count(&s, "<rect"), 0, "{s}");
            assert!(s.contains("<title id=\"refund-title\">"));
            assert!(!s.contains("NaN") && !s.contains("inf"), "{s}");
        }
    }

    #[test]
    fn durations_pick_a_unit_and_a_nice_axis() {
        assert_eq!(duration_unit(90.0, &UNITS).1, "s");
        assert_eq!(duration_unit(3_000.0, &UNITS).1, "min");
        assert_eq!(duration_unit(20_000.0, &UNITS).1, "h");
        assert_eq!(duration_unit(300_000.0, &UNITS).1, "d");
        assert_eq!(axis(100.0), (50.0, 2));
        assert_eq!(axis(7.0), (2.0, 4));
        let (step, steps) = axis(0.3);
        assert!((step - 0.1).abs() < 1e-12 && steps == 3, "{step} {steps}");
        assert_eq!(tick_label(0.2, 0.1), "0.2");
        assert_eq!(tick_label(20.0, 5.0), "20");
    }
}
