//! A small line diff (LCS) for showing mismatching outputs.

/// Unified-style diff of two texts: `  ` same, `- ` only in `a`, `+ ` only in `b`.
pub fn line_diff(a: &str, b: &str, a_label: &str, b_label: &str) -> String {
    let x: Vec<&str> = a.lines().collect();
    let y: Vec<&str> = b.lines().collect();
    let (n, m) = (x.len(), y.len());
    // lcs[i][j] = LCS length of x[i..], y[j..]
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if x[i] == y[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = format!("    --- {a_label}\n    +++ {b_label}\n");
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && x[i] == y[j] {
            out.push_str(&format!("      {}\n", x[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("    - {}\n", x[i]));
            i += 1;
        } else {
            out.push_str(&format!("    + {}\n", y[j]));
            j += 1;
        }
    }
    out
}
