//! `oxcd snapshot status FILE`: etcdctl's report (hash, revision, total
//! keys, total size) in its simple, table and json forms.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::storage::bbolt::{snapshot_status, BoltReader, SnapshotStatus};

#[derive(Args, Debug)]
pub(super) struct StatusArgs {
    /// The snapshot file.
    file: PathBuf,
    /// Output format, as etcdctl's `-w`.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "simple")]
    write_out: Format,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Format {
    Simple,
    Table,
    Json,
    Fields,
}

pub(super) fn run(args: StatusArgs) -> Result<(), String> {
    let len = std::fs::metadata(&args.file)
        .map_err(|e| format!("cannot open {}: {e}", args.file.display()))?
        .len();
    let reader = BoltReader::open(&args.file, len)
        .map_err(|e| format!("snapshot file integrity check failed: {e}"))?;
    let status = snapshot_status(&reader)
        .map_err(|e| format!("snapshot file integrity check failed: {e}"))?;
    print!("{}", render(&status, args.write_out));
    Ok(())
}

fn render(s: &SnapshotStatus, format: Format) -> String {
    let row = [
        format!("{:x}", s.hash),
        s.revision.to_string(),
        s.total_key.to_string(),
        si_bytes(s.total_size),
    ];
    match format {
        Format::Simple => format!("{}\n", row.join(", ")),
        Format::Json => format!(
            "{{\"hash\":{},\"revision\":{},\"totalKey\":{},\"totalSize\":{}}}\n",
            s.hash, s.revision, s.total_key, s.total_size
        ),
        Format::Fields => format!(
            "\"Hash\" : {}\n\"Revision\" : {}\n\"Keys\" : {}\n\"Size\" : {}\n",
            s.hash, s.revision, s.total_key, s.total_size
        ),
        Format::Table => table(&["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"], &row),
    }
}

/// etcdctl's table: centred headers, cells aligned right.
fn table(header: &[&str; 4], row: &[String; 4]) -> String {
    let widths: Vec<usize> = header
        .iter()
        .zip(row)
        .map(|(h, c)| h.len().max(c.len()))
        .collect();
    let rule: String = widths
        .iter()
        .map(|w| format!("+{}", "-".repeat(w + 2)))
        .collect::<String>()
        + "+\n";
    let head: String = header
        .iter()
        .zip(&widths)
        .map(|(h, w)| {
            let left = (w - h.len()) / 2;
            format!(
                "| {}{}{} ",
                " ".repeat(left),
                h,
                " ".repeat(w - h.len() - left)
            )
        })
        .collect::<String>()
        + "|\n";
    let cells: String = row
        .iter()
        .zip(&widths)
        .map(|(c, w)| format!("| {c:>w$} "))
        .collect::<String>()
        + "|\n";
    format!("{rule}{head}{rule}{cells}{rule}")
}

/// go-humanize's `Bytes` (SI units, one decimal below 10), as etcdctl
/// prints sizes.
fn si_bytes(n: u64) -> String {
    if n < 10 {
        return format!("{n} B");
    }
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let exp = ((n as f64).ln() / 1000f64.ln()).floor() as usize;
    let exp = exp.min(UNITS.len() - 1);
    let value = ((n as f64) / 1000f64.powi(exp as i32) * 10.0 + 0.5).floor() / 10.0;
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[exp])
    } else {
        format!("{value:.0} {}", UNITS[exp])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_etcdctl_prints_them() {
        assert_eq!(si_bytes(5), "5 B");
        assert_eq!(si_bytes(20480), "20 kB");
        assert_eq!(si_bytes(24576), "25 kB");
        assert_eq!(si_bytes(2_105_344), "2.1 MB");
        assert_eq!(si_bytes(82_854_982), "83 MB");
    }
}
