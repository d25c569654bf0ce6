//! SVG charts (plotters, SVG backend only): start-latency distributions per
//! target (box plots), peak memory per target and CPU time vs native (bars).

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::coord::ranged1d::{SegmentedCoord, ValueFormatter};
use plotters::coord::types::RangedSlice;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::results::{Cpu, Latency, Results};
use crate::stats;

const W: u32 = 1300;
const H: u32 = 520;

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e:?}")
}

/// An x axis with one segment per target, named by its label.
type Segments<'s> = SegmentedCoord<RangedSlice<'s, String>>;

/// The drawing area of a whole chart file.
type Svg<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// Writes the SVG file `path`, `height` pixels high, with what `draw` puts
/// on its white background.
fn svg(path: &Path, height: u32, draw: impl FnOnce(&Svg) -> Result<()>) -> Result<()> {
    let root = SVGBackend::new(path, (W, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    draw(&root)?;
    root.present().map_err(err)?;
    Ok(())
}

/// A chart on `area` titled `title` (in `title_size` points), with the
/// margins and label areas every chart here shares.
fn chart_builder<'a, 'b>(
    area: &'a Svg<'b>,
    title: &str,
    title_size: u32,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(title, ("sans-serif", title_size))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70);
    builder
}

pub fn write_all(r: &Results, dir: &Path) -> Result<()> {
    latency(r, &dir.join("latency.svg"))?;
    memory(r, &dir.join("memory.svg"))?;
    cpu(r, &dir.join("cpu.svg"))?;
    Ok(())
}

/// What a latency box shows, in ms: exactly the measured minimum, first
/// quartile, median, third quartile and maximum (no 1.5×IQR fences: the
/// chart's title promises min/quartiles/max, and a whisker below the
/// fastest run measured would claim a start that never happened).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxStats {
    pub min: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub max: f64,
}

impl BoxStats {
    pub fn of(l: &Latency) -> BoxStats {
        // Results written before the quartiles were recorded have zeros.
        let (q1, q3) = if l.q1_ms > 0.0 && l.q3_ms > 0.0 {
            (l.q1_ms, l.q3_ms)
        } else {
            (
                stats::quantile(&l.samples_ms, 0.25),
                stats::quantile(&l.samples_ms, 0.75),
            )
        };
        BoxStats {
            min: l.min_ms,
            q1,
            median: l.median_ms,
            q3,
            max: l.max_ms,
        }
    }
}

/// Box plots (min, quartiles, max) of every warm start-latency target, on a
/// log scale since the targets differ by orders of magnitude.
fn latency(r: &Results, path: &Path) -> Result<()> {
    let warm: Vec<_> = r.latency.iter().filter(|l| l.phase == "warm").collect();
    let boxes: Vec<(String, BoxStats)> = warm
        .iter()
        .map(|l| (l.target.clone(), BoxStats::of(l)))
        .collect();
    let networked = if warm.iter().any(|l| l.runs < r.settings.runs) {
        format!(", networked {}", r.settings.network_runs)
    } else {
        String::new()
    };
    let title = format!(
        "hello start-to-exit latency, warm ({} runs each{networked}): min, quartiles, max",
        r.settings.runs
    );
    svg(path, H, |root| draw_boxes(root, &title, &boxes))
}

/// Draws one box per target: whiskers from the box to the minimum and the
/// maximum, the box from the first to the third quartile, a line at the
/// median. Drawn from the five numbers themselves (plotters' `Boxplot`
/// only takes samples and puts its whiskers at 1.5×IQR fences).
fn draw_boxes(root: &Svg, title: &str, boxes: &[(String, BoxStats)]) -> Result<()> {
    let labels: Vec<String> = boxes.iter().map(|(l, _)| l.clone()).collect();
    let lo = boxes
        .iter()
        .map(|(_, b)| b.min)
        .fold(f64::INFINITY, f64::min)
        .max(0.001);
    let hi = boxes
        .iter()
        .map(|(_, b)| b.max)
        .fold(0.0, f64::max)
        .max(lo * 2.0);
    let mut chart = chart_builder(root, title, 20)
        .build_cartesian_2d(
            labels[..].into_segmented(),
            (lo * 0.8..hi * 1.25).log_scale(),
        )
        .map_err(err)?;
    segmented_mesh(
        &mut chart,
        "milliseconds (log scale)",
        Some("target (see report.md)"),
    )?;
    const HALF: i32 = 15;
    const CAP: i32 = 8;
    let style = ShapeStyle::from(&BLUE).stroke_width(1);
    for (label, b) in boxes {
        let at = |v: f64| chart.backend_coord(&(SegmentValue::CenterOf(label), v));
        let (x, y_min) = at(b.min);
        let (_, y_q1) = at(b.q1);
        let (_, y_med) = at(b.median);
        let (_, y_q3) = at(b.q3);
        let (_, y_max) = at(b.max);
        let line = |a: (i32, i32), b: (i32, i32)| PathElement::new(vec![a, b], style);
        root.draw(&Rectangle::new([(x - HALF, y_q3), (x + HALF, y_q1)], style))
            .map_err(err)?;
        for element in [
            line((x - HALF, y_med), (x + HALF, y_med)),
            line((x, y_q1), (x, y_min)),
            line((x, y_q3), (x, y_max)),
            line((x - CAP, y_min), (x + CAP, y_min)),
            line((x - CAP, y_max), (x + CAP, y_max)),
        ] {
            root.draw(&element).map_err(err)?;
        }
    }
    Ok(())
}

/// Horizontal bars, one row per label, each with its value at its end:
/// the labels stack on the y axis, one per row, so long ones never overlap
/// (side by side under vertical bars they did). The chart grows with the
/// number of rows.
fn bars(
    area: &Svg,
    title: &str,
    x_desc: &str,
    labels: &[String],
    values: &[f64],
    unit: &str,
    color: RGBColor,
) -> Result<()> {
    let top = values.iter().copied().fold(0.0, f64::max).max(1e-9) * 1.2;
    let width =
        labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32 * LABEL_CHAR_PX + 20;
    // The segmented y axis runs upwards: reversed, the rows read top to
    // bottom in the order given.
    let labels: Vec<String> = labels.iter().rev().cloned().collect();
    let values: Vec<f64> = values.iter().rev().copied().collect();
    let (labels, values) = (&labels[..], &values[..]);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(width)
        .build_cartesian_2d(0f64..top, labels.into_segmented())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(labels.len())
        .y_label_formatter(&segment_label)
        .y_label_style(("sans-serif", LABEL_FONT))
        .x_desc(x_desc)
        .draw()
        .map_err(err)?;
    chart
        .draw_series(
            Histogram::horizontal(&chart)
                .style(color.mix(0.7).filled())
                .margin(6)
                .data(labels.iter().zip(values.iter().copied())),
        )
        .map_err(err)?;
    let style = TextStyle::from(("sans-serif", LABEL_FONT).into_font())
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (l, v) in labels.iter().zip(values) {
        let (x, y) = chart.backend_coord(&(*v, SegmentValue::CenterOf(l)));
        area.draw(&Text::new(format!("{v:.2}{unit}"), (x + 4, y), &style))
            .map_err(err)?;
    }
    Ok(())
}

/// The bar charts' label font, and a width per character that is enough
/// for it (sans-serif at 12 px averages about 6.5 px a character).
const LABEL_FONT: u32 = 12;
const LABEL_CHAR_PX: u32 = 7;

/// A bar chart's height for `rows` rows: at least 26 px a row.
fn bars_height(rows: usize) -> u32 {
    (120 + 26 * rows as u32).max(260)
}

fn memory(r: &Results, path: &Path) -> Result<()> {
    let labels: Vec<String> = r
        .memory
        .iter()
        .map(|m| format!("{} ({})", m.target, short_method(&m.method)))
        .collect();
    let values: Vec<f64> = r
        .memory
        .iter()
        .map(|m| m.peak_bytes as f64 / (1024.0 * 1024.0))
        .collect();
    svg(path, bars_height(labels.len()), |root| {
        bars(
            root,
            "peak memory per container / run (median)",
            "MiB",
            &labels,
            &values,
            " MiB",
            RGBColor(0x2a, 0x9d, 0x8f),
        )
    })
}

fn short_method(m: &str) -> &'static str {
    if m.starts_with("cgroup") {
        "cgroup"
    } else {
        "RSS"
    }
}

fn cpu(r: &Results, path: &Path) -> Result<()> {
    let rows_of =
        |kernel: &str| -> Vec<&Cpu> { r.cpu.iter().filter(|c| c.kernel == kernel).collect() };
    let (sha, nbody) = (rows_of("sha256"), rows_of("nbody"));
    let (h1, h2) = (bars_height(sha.len()), bars_height(nbody.len()));
    svg(path, h1 + h2, |root| {
        let (top, bottom) = root.split_vertically(h1);
        for (area, kernel, rows) in [(top, "sha256", sha), (bottom, "nbody", nbody)] {
            let labels: Vec<String> = rows.iter().map(|c| c.target.clone()).collect();
            let values: Vec<f64> = rows.iter().map(|c| c.time_ratio_to_native).collect();
            let arg = rows.first().map(|c| c.arg).unwrap_or(0);
            bars(
                &area,
                &format!("cpu {kernel} {arg}: time relative to native (1.00 = native)"),
                "time / native time",
                &labels,
                &values,
                "x",
                RGBColor(0xe7, 0x6f, 0x51),
            )?;
        }
        Ok(())
    })
}

/// Draws the axes of a chart whose x axis has one segment per target:
/// horizontal grid lines only, each segment labelled with its name.
fn segmented_mesh<Y>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<Segments<'_>, Y>>,
    y_desc: &str,
    x_desc: Option<&str>,
) -> Result<()>
where
    Y: Ranged + ValueFormatter<Y::ValueType>,
{
    let mut mesh = chart.configure_mesh();
    mesh.disable_x_mesh()
        .x_label_formatter(&segment_label)
        .x_label_style(("sans-serif", 12))
        .y_desc(y_desc);
    if let Some(x_desc) = x_desc {
        mesh.x_desc(x_desc);
    }
    mesh.draw().map_err(err)
}

/// A segmented axis's label: the segment's name.
fn segment_label(v: &SegmentValue<&String>) -> String {
    match v {
        SegmentValue::CenterOf(s) | SegmentValue::Exact(s) => s.to_string(),
        SegmentValue::Last => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders `draw` into an SVG string, as the files are written.
    fn render(height: u32, draw: impl FnOnce(&Svg) -> Result<()>) -> String {
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, (W, height)).into_drawing_area();
            root.fill(&WHITE).unwrap();
            draw(&root).unwrap();
            root.present().unwrap();
        }
        out
    }

    /// The value of attribute `name` in the SVG element `el`.
    fn attr(el: &str, name: &str) -> Option<String> {
        let at = el.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(el[at..].split('"').next()?.to_string())
    }

    fn num(el: &str, name: &str) -> f64 {
        attr(el, name).unwrap().parse().unwrap()
    }

    /// The blue boxes' rectangles (x, top, bottom) and line segments
    /// ((x1, y1), (x2, y2)) of a latency chart.
    /// A box's rectangle (x, top, bottom), and a line segment.
    type Rect = (f64, f64, f64);
    type Segment = ((f64, f64), (f64, f64));

    fn box_shapes(svg: &str) -> (Vec<Rect>, Vec<Segment>) {
        let mut rects = Vec::new();
        let mut lines = Vec::new();
        for el in svg.split('<') {
            if attr(el, "stroke").as_deref() != Some("#0000FF") {
                continue;
            }
            if el.starts_with("rect ") {
                let y = num(el, "y");
                rects.push((num(el, "x"), y, y + num(el, "height")));
            } else if el.starts_with("polyline ") {
                let pts: Vec<(f64, f64)> = attr(el, "points")
                    .unwrap()
                    .split_whitespace()
                    .map(|p| {
                        let (x, y) = p.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect();
                lines.push((pts[0], pts[1]));
            }
        }
        (rects, lines)
    }

    /// The texts drawn: (x, y, content).
    fn texts(svg: &str) -> Vec<(f64, f64, String)> {
        svg.split("<text")
            .skip(1)
            .map(|el| {
                let (head, rest) = el.split_once('>').unwrap();
                let content = rest.split("</text>").next().unwrap().trim().to_string();
                (num(head, "x"), num(head, "y"), content)
            })
            .collect()
    }

    #[test]
    fn latency_boxes_are_drawn_at_min_quartiles_and_max() {
        // Long tails: 1.5×IQR fences would put whiskers well inside
        // (and below) these minimums and maximums.
        let boxes = vec![
            (
                "wasm".to_string(),
                BoxStats {
                    min: 2.26,
                    q1: 2.4,
                    median: 2.5,
                    q3: 2.7,
                    max: 9.0,
                },
            ),
            (
                "linux".to_string(),
                BoxStats {
                    min: 30.0,
                    q1: 48.0,
                    median: 50.0,
                    q3: 55.0,
                    max: 400.0,
                },
            ),
        ];
        let svg = render(H, |r| draw_boxes(r, "t", &boxes));
        let (mut rects, lines) = box_shapes(&svg);
        assert_eq!(rects.len(), 2, "{svg}");
        rects.sort_by(|a, b| a.0.total_cmp(&b.0));
        // The y axis is log-scaled: y = a + b·ln(v). Fit it on the two
        // boxes' outer edges, then every other drawn value must fall on it.
        let (y1, v1) = (rects[0].2, boxes[0].1.q1);
        let (y2, v2) = (rects[1].1, boxes[1].1.q3);
        let b = (y2 - y1) / (v2.ln() - v1.ln());
        let a = y1 - b * v1.ln();
        let y_of = |v: f64| a + b * v.ln();
        let close = |y: f64, v: f64| (y - y_of(v)).abs() <= 1.5;
        for ((x, top, bottom), (_, s)) in rects.iter().zip(&boxes) {
            assert!(close(*top, s.q3) && close(*bottom, s.q1), "box {s:?}");
            let centre = x + 15.0;
            let at = |y: f64, width: f64| {
                lines.iter().any(|((x1, y1), (x2, y2))| {
                    y1 == y2
                        && (y1 - y).abs() <= 1.5
                        && (x2 - x1).abs() == width
                        && ((x1 + x2) / 2.0 - centre).abs() <= 1.0
                })
            };
            assert!(at(y_of(s.median), 30.0), "median of {s:?}: {lines:?}");
            // Whisker caps at exactly the minimum and the maximum.
            assert!(at(y_of(s.min), 16.0), "min of {s:?}: {lines:?}");
            assert!(at(y_of(s.max), 16.0), "max of {s:?}: {lines:?}");
            // Nothing of this box is drawn below its minimum (larger y).
            let lowest = lines
                .iter()
                .filter(|((x1, _), _)| (x1 - centre).abs() <= 16.0)
                .map(|((_, y1), (_, y2))| y1.max(*y2))
                .fold(0.0, f64::max);
            assert!(lowest <= y_of(s.min) + 1.5, "{s:?} drawn below its min");
        }
    }

    #[test]
    fn bar_labels_do_not_overlap() {
        let labels: Vec<String> = (0..14)
            .map(|i| format!("a-rather-long-target-name-{i} (cgroup)"))
            .collect();
        let values: Vec<f64> = (0..14).map(|i| 1.0 + i as f64 * 3.3).collect();
        let svg = render(bars_height(labels.len()), |r| {
            bars(r, "t", "MiB", &labels, &values, " MiB", RED)
        });
        let drawn = texts(&svg);
        let mut ys: Vec<f64> = labels
            .iter()
            .map(|l| {
                let hits: Vec<_> = drawn.iter().filter(|(_, _, t)| t == l).collect();
                assert_eq!(hits.len(), 1, "{l} drawn {} times", hits.len());
                hits[0].1
            })
            .collect();
        // Top to bottom in the order given.
        assert!(ys.windows(2).all(|w| w[0] < w[1]), "{ys:?}");
        ys.sort_by(f64::total_cmp);
        for w in ys.windows(2) {
            assert!(
                w[1] - w[0] >= f64::from(LABEL_FONT),
                "labels overlap: {ys:?}"
            );
        }
        // Each value is written once, with two decimals.
        for v in &values {
            let text = format!("{v:.2} MiB");
            assert_eq!(
                drawn.iter().filter(|(_, _, t)| *t == text).count(),
                1,
                "{text}"
            );
        }
    }
}
