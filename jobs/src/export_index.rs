//! The `index.html` inside an export: a summary a person can read, grouped by category.

use std::collections::BTreeMap;

use maud::{DOCTYPE, Markup, html};

use crate::datamap::Category;
use crate::export::{ExportJobSpec, ExportReport};

/// Renders the summary page. `tables` and `objects` carry counts only.
pub(crate) fn render(
    spec: &ExportJobSpec,
    report: &ExportReport,
    tables: &[impl TableLike],
    objects: &BTreeMap<Category, (u64, u64)>,
) -> String {
    let mut categories: BTreeMap<Category, Vec<Markup>> = BTreeMap::new();
    for t in tables {
        categories.entry(t.category()).or_default().push(html! {
            tr {
                td { (t.entry()) }
                td.num { (t.rows()) }
                td { @for f in t.files() { a href=(f) { (f.rsplit('.').next().unwrap_or("file")) } " " } }
            }
        });
    }
    for (category, (count, bytes)) in objects {
        categories.entry(*category).or_default().push(html! {
            tr { td { "files" } td.num { (count) } td { (format_bytes(*bytes)) " in objects/" } }
        });
    }
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Your data export" }
                style { "body{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;color:#222}\
                         table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}\
                         td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left}.num{text-align:right}" }
            }
            body {
                h1 { "Your data export" }
                p { "Request " code { (spec.request_id) } ", generated " (chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")) "." }
                @if !report.subject_found {
                    p { "We found no account for the identity you verified, so this archive holds no personal data." }
                } @else {
                    p { "This archive holds " (report.rows_total) " records and " (report.objects) " files ("
                        (format_bytes(report.object_bytes)) ") that we hold about you. "
                        "Each table is given twice: as JSON (" code { ".json" } ") and as a spreadsheet (" code { ".csv" } "). "
                        code { "manifest.json" } " lists every file with its SHA-256 checksum." }
                    @if report.objects_missing > 0 {
                        p { (report.objects_missing) " files named in our records were no longer in storage." }
                    }
                    @for (category, rows) in &categories {
                        h2 { (category.title()) }
                        table {
                            thead { tr { th { "Data" } th.num { "Records" } th { "Files" } } }
                            tbody { @for row in rows { (row) } }
                        }
                    }
                }
            }
        }
    };
    page.into_string()
}

/// What the index needs of a table entry.
pub(crate) trait TableLike {
    fn entry(&self) -> &str;
    fn category(&self) -> Category;
    fn rows(&self) -> u64;
    fn files(&self) -> &[String];
}

fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
