//! `lethe bench scale`: the export and purge benchmarks at several sizes (10,000, 100,000
//! and 1,000,000 rows by default), each prepare and each run in a `lethe bench` process
//! of its own so that its peak memory is its own; the figures in one JSON file and an SVG
//! plot of time and peak memory against rows.

use std::path::{Path, PathBuf};

use anyhow::Context;
use plotters::prelude::*;
use serde_json::{Value, json};

use super::bench::Names;
use super::bench_prepare::drop_database;
use crate::config::Settings;
use secrecy::ExposeSecret;

/// One size's figures.
struct Point {
    rows: f64,
    export: Value,
    purge: Value,
}

/// What `lethe bench scale` was asked to do.
pub struct Sizes<'a> {
    /// Rows of the heavy subject, one size each.
    pub rows: &'a [u64],
    /// Rounds of each benchmark at each size.
    pub rounds: u32,
    /// Other users around the heavy subject.
    pub users: u32,
}

/// Runs each size; writes `dir/scale.json` and `dir/scale.svg`.
pub async fn run(
    settings: &Settings,
    names: &Names,
    config: Option<&Path>,
    sizes: &Sizes<'_>,
    dir: &Path,
) -> anyhow::Result<Value> {
    let (rows, rounds, users) = (sizes.rows, sizes.rounds, sizes.users.to_string());
    anyhow::ensure!(
        !rows.is_empty() && rows.iter().all(|&n| (1_000..=100_000_000).contains(&n)),
        "--rows: give sizes between 1000 and 100000000"
    );
    std::fs::create_dir_all(dir)?;
    let mut points = Vec::new();
    for &n in rows {
        let export_dir = dir.join("export");
        let purge_dir = dir.join("purge");
        let objects = (n / 100).clamp(1, 10_000);
        let step = |what: &str| dir.join(format!("{what}-{n}.json"));
        child(
            names,
            config,
            &step("prepare-export"),
            &[
                "prepare-export",
                "--rows",
                &n.to_string(),
                "--objects",
                "0",
                "--users",
                &users,
                "--dir",
            ],
            &export_dir,
        )?;
        let export = child(
            names,
            config,
            &step("export"),
            &["export", "--rounds", &rounds.to_string(), "--dir"],
            &export_dir,
        )?;
        child(
            names,
            config,
            &step("prepare-purge"),
            &[
                "prepare-purge",
                "--rows",
                &n.to_string(),
                "--objects",
                &objects.to_string(),
                "--users",
                &users,
                "--dir",
            ],
            &purge_dir,
        )?;
        let purge = child(
            names,
            config,
            &step("purge"),
            &["purge", "--rounds", &rounds.to_string(), "--dir"],
            &purge_dir,
        )?;
        points.push(Point {
            rows: n as f64,
            export,
            purge,
        });
    }
    let base = settings.platform.database_url.expose_secret();
    drop_database(base, &names.of("platform")).await?;
    drop_database(base, &names.of("purge_tmpl")).await?;

    let svg = dir.join("scale.svg");
    plot(&points, &svg)?;
    let document = json!({
        "rounds": rounds,
        "sizes": points.iter().map(|p| json!({
            "rows": p.rows,
            "export": p.export,
            "purge": p.purge,
        })).collect::<Vec<_>>(),
        "plot": svg,
    });
    let path = dir.join("scale.json");
    std::fs::write(&path, serde_json::to_string_pretty(&document)?)?;
    println!("\nrows        export  floor  ratio  RSS MiB | purge   raw    ratio  RSS MiB");
    for p in &points {
        let (e, q) = (&p.export, &p.purge);
        println!(
            "{:<10}  {:>6.2} {:>6.2} {:>6.2} {:>7.0}  | {:>6.2} {:>6.2} {:>6.2} {:>7.0}",
            p.rows,
            figure(e, "/results/lethe_median_s"),
            figure(e, "/results/floor_median_s"),
            figure(e, "/results/ratio/median"),
            figure(e, "/peak_rss_kib") / 1024.0,
            figure(q, "/results/lethe_median_s"),
            figure(q, "/results/raw_median_s"),
            figure(q, "/results/ratio/median"),
            figure(q, "/peak_rss_kib") / 1024.0,
        );
    }
    println!("figures in {}, plot in {}", path.display(), svg.display());
    Ok(document)
}

fn figure(value: &Value, pointer: &str) -> f64 {
    value
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN)
}

/// `lethe bench --db-prefix <prefix> --json <json> <args> <dir>` as a process of its own;
/// the JSON it wrote.
fn child(
    names: &Names,
    config: Option<&Path>,
    json: &Path,
    args: &[&str],
    dir: &Path,
) -> anyhow::Result<Value> {
    let mut command = std::process::Command::new(std::env::current_exe()?);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command
        .args(["bench", "--db-prefix", names.prefix()])
        .arg("--json")
        .arg(json)
        .args(args)
        .arg(dir);
    println!("$ lethe bench {} {}", args.join(" "), dir.display());
    let status = command.status().context("starting `lethe bench`")?;
    anyhow::ensure!(status.success(), "`lethe bench {}` failed", args.join(" "));
    let text =
        std::fs::read_to_string(json).with_context(|| format!("reading {}", json.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// Two panels: seconds against rows (log–log) for the export, its floor, the purge and
/// its raw side; peak resident memory against rows for the export and the purge.
fn plot(points: &[Point], path: &PathBuf) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let (left, right) = root.split_horizontally(500);
    let xs = || points.iter().map(|p| p.rows);
    let (x_min, x_max) = (
        xs().fold(f64::INFINITY, f64::min) / 1.5,
        xs().fold(0.0, f64::max) * 1.5,
    );
    let times: [(&str, &str, RGBColor); 4] = [
        ("export (Lethe)", "/export/results/lethe_median_s", BLUE),
        (
            "export floor: COPY | gzip -1",
            "/export/results/floor_median_s",
            CYAN,
        ),
        ("purge (Lethe)", "/purge/results/lethe_median_s", RED),
        (
            "purge raw: psql + DeleteObjects",
            "/purge/results/raw_median_s",
            MAGENTA,
        ),
    ];
    let series = |pointer: &str| -> Vec<(f64, f64)> {
        points
            .iter()
            .map(|p| {
                let whole = json!({ "export": p.export, "purge": p.purge });
                (p.rows, figure(&whole, pointer))
            })
            .filter(|(_, y)| y.is_finite() && *y > 0.0)
            .collect()
    };
    let all: Vec<f64> = times
        .iter()
        .flat_map(|(_, pointer, _)| series(pointer).into_iter().map(|(_, y)| y))
        .collect();
    let (y_min, y_max) = (
        all.iter().copied().fold(f64::INFINITY, f64::min).min(1.0) / 2.0,
        all.iter().copied().fold(0.0, f64::max).max(0.1) * 2.0,
    );
    let mut chart = ChartBuilder::on(&left)
        .caption("median seconds against rows", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((x_min..x_max).log_scale(), (y_min..y_max).log_scale())
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("rows of the subject")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("seconds")
        .draw()
        .map_err(plot_error)?;
    for (label, pointer, color) in times {
        draw(&mut chart, series(pointer), label, color)?;
    }
    legend(&mut chart)?;

    let memory: [(&str, &str, RGBColor); 2] = [
        ("export process", "/export/peak_rss_kib", BLUE),
        ("purge process", "/purge/peak_rss_kib", RED),
    ];
    let mib = |pointer: &str| -> Vec<(f64, f64)> {
        series(pointer)
            .into_iter()
            .map(|(x, k)| (x, k / 1024.0))
            .collect()
    };
    let top = memory
        .iter()
        .flat_map(|(_, pointer, _)| mib(pointer).into_iter().map(|(_, y)| y))
        .fold(0.0, f64::max)
        * 1.3;
    let mut chart = ChartBuilder::on(&right)
        .caption(
            "peak resident memory (MiB) against rows",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((x_min..x_max).log_scale(), 0.0..top.max(1.0))
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("rows of the subject")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("MiB")
        .draw()
        .map_err(plot_error)?;
    for (label, pointer, color) in memory {
        draw(&mut chart, mib(pointer), label, color)?;
    }
    legend(&mut chart)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

type Chart<'a, 'b, Y> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<plotters::coord::combinators::LogCoord<f64>, Y>>;

fn draw<Y>(
    chart: &mut Chart<'_, '_, Y>,
    points: Vec<(f64, f64)>,
    label: &str,
    color: RGBColor,
) -> anyhow::Result<()>
where
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    chart
        .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
        .map_err(plot_error)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    chart
        .draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, color.filled())),
        )
        .map_err(plot_error)?;
    Ok(())
}

fn legend<'b, Y>(chart: &mut Chart<'b, 'b, Y>) -> anyhow::Result<()>
where
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)
}

fn plot_error(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing the plot: {error}")
}
