//! The training curve as an SVG a person can open: training loss and validation NDCG@10 per
//! epoch, one panel each, the best epoch marked.

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
        let last = epochs.len().max(2) as f64;
        let panel = |area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
                     caption: &str,
                     values: Vec<(f64, f64)>,
                     color: RGBColor|
         -> Result<(), Box<dyn std::error::Error>> {
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
                .build_cartesian_2d(1.0..last, (lo - pad)..(hi + pad))?;
            chart.configure_mesh().x_desc("epoch").draw()?;
            chart.draw_series(LineSeries::new(values.clone(), color.stroke_width(2)))?;
            chart.draw_series(
                values
                    .iter()
                    .filter(|(e, _)| *e as usize == best_epoch)
                    .map(|&(e, v)| Circle::new((e, v), 5, color.filled())),
            )?;
            Ok(())
        };
        let loss = epochs
            .iter()
            .map(|e| (e.epoch as f64, e.train_loss))
            .collect();
        let ndcg = epochs
            .iter()
            .map(|e| (e.epoch as f64, e.validation_ndcg_at_10))
            .collect();
        panel(&left, "training loss (BCE)", loss, RED)?;
        panel(
            &right,
            "validation NDCG@10 (sampled-100), • best",
            ndcg,
            BLUE,
        )?;
        root.present()?;
        Ok(())
    };
    plot().map_err(|e| anyhow!("cannot draw {}: {e}", path.display()))
}
