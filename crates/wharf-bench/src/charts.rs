//! SVG charts (plotters, SVG backend only): start-latency distributions per
//! target (box plots), peak memory per target and CPU time vs native (bars).

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use crate::results::Results;

const W: u32 = 1300;
const H: u32 = 520;

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e:?}")
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
    let root = SVGBackend::new(path, (W, H)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "hello start-to-exit latency, warm ({} runs each)",
                r.settings.runs
            ),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            labels[..].into_segmented(),
            ((lo * 0.8) as f32..(hi * 1.25) as f32).log_scale(),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&segment_label)
        .x_label_style(("sans-serif", 12))
        .y_desc("milliseconds (log scale)")
        .x_desc("target (see report.md)")
        .draw()
        .map_err(err)?;
    chart
        .draw_series(warm.iter().zip(&labels).map(|(l, label)| {
            let q = Quartiles::new(&l.samples_ms);
            Boxplot::new_vertical(SegmentValue::CenterOf(label), &q)
                .width(30)
                .style(BLUE)
        }))
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Vertical bars, each labelled with its value.
fn bars(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
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
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(labels.into_segmented(), 0f64..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&segment_label)
        .x_label_style(("sans-serif", 12))
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
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
    let root = SVGBackend::new(path, (W, H)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    bars(
        &root,
        "peak memory per container / run (median)",
        "MiB",
        &labels,
        &values,
        RGBColor(0x2a, 0x9d, 0x8f),
    )?;
    root.present().map_err(err)?;
    Ok(())
}

fn short_method(m: &str) -> &'static str {
    if m.starts_with("cgroup") {
        "cgroup"
    } else {
        "RSS"
    }
}

fn cpu(r: &Results, path: &Path) -> Result<()> {
    let root = SVGBackend::new(path, (W, H * 2)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
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
    root.present().map_err(err)?;
    Ok(())
}

/// A segmented axis's label: the segment's name.
fn segment_label(v: &SegmentValue<&String>) -> String {
    match v {
        SegmentValue::CenterOf(s) | SegmentValue::Exact(s) => s.to_string(),
        SegmentValue::Last => String::new(),
    }
}
