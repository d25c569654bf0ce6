//! SVG charts (plotters, SVG backend only): start-latency distributions per
//! target (box plots), peak memory per target and CPU time vs native (bars).

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::coord::ranged1d::{SegmentedCoord, ValueFormatter};
use plotters::coord::types::RangedSlice;
use plotters::prelude::*;

use crate::results::Results;

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

/// Box plots (min, quartiles, max) of every warm start-latency target, on a
/// log scale since the targets differ by orders of magnitude.
fn latency(r: &Results, path: &Path) -> Result<()> {
    let warm: Vec<_> = r.latency.iter().filter(|l| l.phase == "warm").collect();
    let labels: Vec<String> = warm.iter().map(|l| l.target.clone()).collect();
    let lo = warm
        .iter()
        .map(|l| l.min_ms)
        .fold(f64::INFINITY, f64::min)
        .max(0.01);
    let hi = warm
        .iter()
        .map(|l| l.max_ms)
        .fold(0.0, f64::max)
        .max(lo * 2.0);
    svg(path, H, |root| {
        let networked = if warm.iter().any(|l| l.runs < r.settings.runs) {
            format!(", networked {}", r.settings.network_runs)
        } else {
            String::new()
        };
        let title = format!(
            "hello start-to-exit latency, warm ({} runs each{networked})",
            r.settings.runs
        );
        let mut chart = chart_builder(root, &title, 20)
            .build_cartesian_2d(
                labels[..].into_segmented(),
                ((lo * 0.8) as f32..(hi * 1.25) as f32).log_scale(),
            )
            .map_err(err)?;
        segmented_mesh(
            &mut chart,
            "milliseconds (log scale)",
            Some("target (see report.md)"),
        )?;
        chart
            .draw_series(warm.iter().zip(&labels).map(|(l, label)| {
                let q = Quartiles::new(&l.samples_ms);
                Boxplot::new_vertical(SegmentValue::CenterOf(label), &q)
                    .width(30)
                    .style(BLUE)
            }))
            .map_err(err)?;
        Ok(())
    })
}

/// Vertical bars, each labelled with its value.
fn bars(
    area: &Svg,
    title: &str,
    y_desc: &str,
    labels: &[String],
    values: &[f64],
    color: RGBColor,
) -> Result<()> {
    let top = values.iter().copied().fold(0.0, f64::max).max(1e-9) * 1.15;
    let labels: Vec<String> = labels
        .iter()
        .zip(values)
        .map(|(l, v)| format!("{l}: {v:.2}"))
        .collect();
    let labels = &labels[..];
    let mut chart = chart_builder(area, title, 18)
        .build_cartesian_2d(labels.into_segmented(), 0f64..top)
        .map_err(err)?;
    segmented_mesh(&mut chart, y_desc, None)?;
    chart
        .draw_series(
            Histogram::vertical(&chart)
                .style(color.mix(0.7).filled())
                .margin(12)
                .data(labels.iter().zip(values.iter().copied())),
        )
        .map_err(err)?;
    Ok(())
}

fn memory(r: &Results, path: &Path) -> Result<()> {
    let labels: Vec<String> = r
        .memory
        .iter()
        .map(|m| format!("{} {}", m.target, short_method(&m.method)))
        .collect();
    let values: Vec<f64> = r
        .memory
        .iter()
        .map(|m| m.peak_bytes as f64 / (1024.0 * 1024.0))
        .collect();
    svg(path, H, |root| {
        bars(
            root,
            "peak memory per container / run (median)",
            "MiB",
            &labels,
            &values,
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
    svg(path, H * 2, |root| {
        let areas = root.split_evenly((2, 1));
        for (area, kernel) in areas.iter().zip(["sha256", "nbody"]) {
            let rows: Vec<_> = r.cpu.iter().filter(|c| c.kernel == kernel).collect();
            let labels: Vec<String> = rows.iter().map(|c| c.target.clone()).collect();
            let values: Vec<f64> = rows.iter().map(|c| c.time_ratio_to_native).collect();
            let arg = rows.first().map(|c| c.arg).unwrap_or(0);
            bars(
                area,
                &format!("cpu {kernel} {arg}: time relative to native (1.00 = native)"),
                "time / native time",
                &labels,
                &values,
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
