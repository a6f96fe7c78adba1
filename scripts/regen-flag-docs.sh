#!/usr/bin/env bash
# Rewrites the flag tables of docs/configuration.md (from "### Configuration"
# under "## Flag reference" to the end) from the code's flag table,
# src/config/table.rs. A unit test fails when the two differ.
set -euo pipefail
cd "$(dirname "$0")/.."
doc=docs/configuration.md
tables=$(cargo test --features failpoints --lib print_docs_table -- --ignored --nocapture --quiet 2>/dev/null |
    sed -n '/^### /,/^test result/p' | grep -E '^(### |\||$)')
head_end=$(grep -n '^## Flag reference' "$doc" | cut -d: -f1)
first_table=$(awk -v s="$head_end" 'NR>s && /^### /{print NR; exit}' "$doc")
{ head -n $((first_table - 1)) "$doc"; printf '%s\n' "$tables"; } > "$doc.new"
# Trim trailing blank lines the capture may leave.
sed -i -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$doc.new"
mv "$doc.new" "$doc"
