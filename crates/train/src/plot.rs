//! The training curve as an SVG a person can open: training loss per epoch, and validation
//! NDCG@10 against the seconds of training so far (the epochs' wall-clock time, validation
//! included: what a quality target costs to reach), one panel each, the best epoch marked.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use super::train::EpochRecord;

/// Writes the curve of `epochs` to `path` as SVG, marking `best_epoch`, under `title`.
pub fn training_curve(
    path: &Path,
    epochs: &[EpochRecord],
    best_epoch: usize,
    title: &str,
) -> Result<()> {
    let plot = || -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(title, ("sans-serif", 20))?;
        let (left, right) = root.split_horizontally(450);
        // Each epoch's end, in seconds since training began.
        let elapsed: Vec<f64> = epochs
            .iter()
            .scan(0.0, |total, e| {
                *total += e.seconds;
                Some(*total)
            })
            .collect();
        let panel = |area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
                     caption: &str,
                     (x_desc, x_from): (&str, f64),
                     values: &[(f64, f64)],
                     best: Option<(f64, f64)>,
                     color: RGBColor|
         -> Result<(), Box<dyn std::error::Error>> {
            let last = values.last().map_or(x_from, |&(x, _)| x).max(x_from + 1.0);
            let (lo, hi) = values
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, v)| {
                    (lo.min(v), hi.max(v))
                });
            let pad = ((hi - lo) * 0.1).max(1e-3);
            let mut chart = ChartBuilder::on(area)
                .caption(caption, ("sans-serif", 16))
                .margin(12)
                .x_label_area_size(30)
                .y_label_area_size(50)
                .build_cartesian_2d(x_from..last, (lo - pad)..(hi + pad))?;
            chart.configure_mesh().x_desc(x_desc).draw()?;
            chart.draw_series(LineSeries::new(values.to_vec(), color.stroke_width(2)))?;
            chart.draw_series(
                values
                    .iter()
                    .map(|&(x, v)| Circle::new((x, v), 2, color.filled())),
            )?;
            chart.draw_series(best.map(|(x, v)| Circle::new((x, v), 6, color.filled())))?;
            Ok(())
        };
        let points = |x: &dyn Fn(usize) -> f64, y: fn(&EpochRecord) -> f64| -> Vec<(f64, f64)> {
            epochs
                .iter()
                .enumerate()
                .map(|(i, e)| (x(i), y(e)))
                .collect()
        };
        let loss = points(&|i| epochs[i].epoch as f64, |e| e.train_loss);
        let ndcg = points(&|i| elapsed[i], |e| e.validation_ndcg_at_10);
        let best = epochs.iter().position(|e| e.epoch == best_epoch);
        panel(
            &left,
            "training loss (BCE)",
            ("epoch", 1.0),
            &loss,
            best.map(|i| loss[i]),
            RED,
        )?;
        panel(
            &right,
            "validation NDCG@10 (sampled-100), large dot: best",
            ("seconds of training, validation included", 0.0),
            &ndcg,
            best.map(|i| ndcg[i]),
            BLUE,
        )?;
        root.present()?;
        Ok(())
    };
    plot().map_err(|e| anyhow!("cannot draw {}: {e}", path.display()))
}
