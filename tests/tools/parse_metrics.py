#!/usr/bin/env python3
"""Reads Prometheus text exposition on stdin with prometheus_client's parser
(the Prometheus project's own) and prints one line per sample:
`name{label="value",...} value`, labels sorted. Exits non-zero if the text
does not parse."""

import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> int:
    text = sys.stdin.read()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            name = f"{s.name}{{{labels}}}" if labels else s.name
            print(f"{name} {s.value!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
