#!/usr/bin/env python3
"""Check that oxcd's proto/ is wire-identical to etcd's v3 API protos.

Usage: scripts/check-proto.py [ETCD_SRC_DIR] [--ours PROTO_DIR] [-v]

ETCD_SRC_DIR defaults to the Debian etcd 3.4 source tree
(/usr/share/gocode/src/go.etcd.io/etcd); a 3.5+ checkout (api/..., server/...)
works too. etcd's files are copied to a temp dir with gogoproto / google.api /
versionpb / openapiv2 imports and options removed, then both sides are compiled
with `protoc --descriptor_set_out --include_imports` and the descriptor sets
(decoded to text format with protoc itself, so no python protobuf package is
needed) are compared item by item:

  package, service, rpc (input, output, streaming), message (file syntax),
  field (number, type, label, type_name, oneof, proto3_optional), enum values.

Every etcd item must exist in ours and be identical. Items only in ours are
listed as extras (allowed). Exit status: 0 ok, 1 mismatch, 2 setup error.
Needs only python3 (stdlib) and a `protoc` on PATH.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

DEFAULT_ETCD = "/usr/share/gocode/src/go.etcd.io/etcd"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# canonical path (= ours, relative to proto/) -> candidate paths in an etcd tree
# (3.4 layout first, then 3.5+ layout). Optional files may be absent (3.4 has no
# membershippb).
ETCD_FILES = [
    ("mvccpb/kv.proto", ["mvcc/mvccpb/kv.proto", "api/mvccpb/kv.proto"], True),
    ("authpb/auth.proto", ["auth/authpb/auth.proto", "api/authpb/auth.proto"], True),
    ("membershippb/membership.proto", ["api/membershippb/membership.proto"], False),
    ("etcdserverpb/etcdserver.proto",
     ["etcdserver/etcdserverpb/etcdserver.proto", "api/etcdserverpb/etcdserver.proto"], True),
    ("etcdserverpb/rpc.proto",
     ["etcdserver/etcdserverpb/rpc.proto", "api/etcdserverpb/rpc.proto"], True),
    ("etcdserverpb/raft_internal.proto",
     ["etcdserver/etcdserverpb/raft_internal.proto", "api/etcdserverpb/raft_internal.proto"], True),
    ("v3lockpb/v3lock.proto",
     ["etcdserver/api/v3lock/v3lockpb/v3lock.proto",
      "server/etcdserver/api/v3lock/v3lockpb/v3lock.proto"], True),
    ("v3electionpb/v3election.proto",
     ["etcdserver/api/v3election/v3electionpb/v3election.proto",
      "server/etcdserver/api/v3election/v3electionpb/v3election.proto"], True),
]

# Imports that only carry codegen/gateway annotations; dropped with their options.
DROP_IMPORT = re.compile(r"(gogoproto/|google/api/|versionpb/|protoc-gen-openapiv2/)")

# Items of ours that come from etcd 3.6 rather than 3.5 (response-only, harmless).
FROM_36 = {
    "field .etcdserverpb.HashKVResponse.hash_revision",
    "field .etcdserverpb.SnapshotResponse.version",
    "field .etcdserverpb.StatusResponse.storageVersion",
    "field .etcdserverpb.StatusResponse.dbSizeQuota",
    "field .etcdserverpb.StatusResponse.downgradeInfo",
    "message .etcdserverpb.DowngradeInfo",
    "field .etcdserverpb.DowngradeInfo.enabled",
    "field .etcdserverpb.DowngradeInfo.targetVersion",
}


def die(msg, code=2):
    print("check-proto: " + msg, file=sys.stderr)
    sys.exit(code)


# ---------------------------------------------------------------- stripping

def _scan_string(text, i):
    """Index just past the string literal starting at text[i]."""
    quote = text[i]
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == quote:
            return i + 1
        i += 1
    return i


def strip_comments(text):
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c in "\"'":
            j = _scan_string(text, i)
            out.append(text[i:j])
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = len(text) if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = len(text) if j < 0 else j + 2
            out.append(" ")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _skip_statement(text, i):
    """From text[i], index just past the next ';' at brace depth 0."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c in "\"'":
            i = _scan_string(text, i)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == ";" and depth == 0:
            return i + 1
        i += 1
    return i


def strip_custom_options(text):
    """Drop `option (x.y) = ...;` statements and `[ ... ]` lists holding custom options."""
    out = []
    i = 0
    opt = re.compile(r"option\s*\(")
    while i < len(text):
        c = text[i]
        if c in "\"'":
            j = _scan_string(text, i)
            out.append(text[i:j])
            i = j
            continue
        m = opt.match(text, i)
        if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            i = _skip_statement(text, i)
            continue
        if c == "[":
            j = i + 1
            while j < len(text) and text[j] != "]":
                j = _scan_string(text, j) if text[j] in "\"'" else j + 1
            inner = text[i + 1:j]
            if "(" in inner:
                i = j + 1
                continue
        out.append(c)
        i += 1
    return "".join(out)


def prepare_etcd(etcd_dir, tmp):
    """Copy etcd's protos to tmp/<canonical path>, cleaned. Returns canonical paths."""
    by_base = {os.path.basename(canon): canon for canon, _, _ in ETCD_FILES}
    written = []
    for canon, candidates, required in ETCD_FILES:
        src = next((os.path.join(etcd_dir, c) for c in candidates
                    if os.path.isfile(os.path.join(etcd_dir, c))), None)
        if src is None:
            if required:
                die("etcd file for %s not found under %s (tried %s)"
                    % (canon, etcd_dir, ", ".join(candidates)))
            continue
        with open(src, encoding="utf-8") as f:
            text = strip_comments(f.read())
        lines = []
        for line in text.split("\n"):
            m = re.match(r'\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;', line)
            if m:
                path = m.group(1)
                if DROP_IMPORT.search(path):
                    continue
                base = os.path.basename(path)
                if base not in by_base:
                    die("%s imports unknown file %s" % (src, path))
                line = 'import "%s";' % by_base[base]
            lines.append(line)
        text = strip_custom_options("\n".join(lines))
        dst = os.path.join(tmp, canon)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "w", encoding="utf-8") as f:
            f.write(text)
        written.append(canon)
    return written


# ---------------------------------------------------------------- protoc

def find_protoc():
    protoc = shutil.which("protoc")
    if not protoc:
        die("`protoc` not found on PATH (Debian: apt-get install protobuf-compiler)")
    return protoc


def find_descriptor_include(protoc):
    cands = [os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(protoc))), "include"),
             "/usr/include", "/usr/local/include"]
    for d in cands:
        if os.path.isfile(os.path.join(d, "google/protobuf/descriptor.proto")):
            return d
    die("google/protobuf/descriptor.proto not found (looked in %s); "
        "Debian: apt-get install libprotobuf-dev" % ", ".join(cands))


def compile_set(protoc, include, files, out):
    cmd = [protoc, "-I" + include, "--include_imports", "--descriptor_set_out=" + out] + files
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        die("protoc failed for %s:\n%s" % (include, r.stderr), 1)


def decode_set(protoc, desc_include, pb):
    with open(pb, "rb") as f:
        r = subprocess.run([protoc, "-I" + desc_include,
                            "--decode=google.protobuf.FileDescriptorSet",
                            "google/protobuf/descriptor.proto"],
                           stdin=f, capture_output=True)
    if r.returncode != 0:
        die("protoc --decode failed:\n" + r.stderr.decode(errors="replace"))
    return parse_text_format(r.stdout.decode("utf-8", errors="replace"))


# ---------------------------------------------------------------- text format

_TOKEN = re.compile(r'\s*(?:([A-Za-z_][\w.]*)|(-?[\d][\w.+-]*)|("(?:[^"\\]|\\.)*")|([:{}<>\[\],;]))')


def _unquote(s):
    body = s[1:-1]
    return bytes(body, "utf-8").decode("unicode_escape").encode("latin-1").decode(
        "utf-8", errors="replace")


def _tokens(text):
    pos = 0
    n = len(text)
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            return
        m = _TOKEN.match(text, pos)
        if not m:
            die("cannot parse protoc text output near: %r" % text[pos:pos + 40])
        pos = m.end()
        ident, num, string, punct = m.groups()
        if ident is not None:
            yield ("id", ident)
        elif num is not None:
            yield ("num", num)
        elif string is not None:
            yield ("str", _unquote(string))
        else:
            yield ("p", punct)


def parse_text_format(text):
    """Text-format message -> dict: field name -> list of (str | dict)."""
    toks = list(_tokens(text))
    pos = 0

    def parse_msg(end):
        nonlocal pos
        msg = {}
        while pos < len(toks):
            kind, val = toks[pos]
            if kind == "p" and val == end:
                pos += 1
                return msg
            if kind != "id":
                die("unexpected token %r in protoc text output" % (val,))
            name = val
            pos += 1
            if toks[pos] == ("p", ":"):
                pos += 1
            kind, val = toks[pos]
            if kind == "p" and val in "{<":
                pos += 1
                value = parse_msg("}" if val == "{" else ">")
            else:
                pos += 1
                value = val
            msg.setdefault(name, []).append(value)
        if end is not None:
            die("unterminated message in protoc text output")
        return msg

    return parse_msg(None)


def one(d, key, default=None):
    v = d.get(key)
    return v[0] if v else default


# ---------------------------------------------------------------- items

def collect(fdset):
    """Flatten a parsed FileDescriptorSet into {item key: comparable value}."""
    items = {}
    for f in fdset.get("file", []):
        pkg = one(f, "package", "")
        syntax = one(f, "syntax", "proto2")
        prefix = "." + pkg if pkg else ""
        items["package " + pkg] = ""
        for svc in f.get("service", []):
            sname = prefix + "." + one(svc, "name")
            items["service " + sname] = ""
            for m in svc.get("method", []):
                items["rpc %s/%s" % (sname, one(m, "name"))] = (
                    "in=%s out=%s client_stream=%s server_stream=%s" % (
                        one(m, "input_type"), one(m, "output_type"),
                        one(m, "client_streaming", "false"),
                        one(m, "server_streaming", "false")))
        for e in f.get("enum_type", []):
            collect_enum(items, prefix, e)
        for m in f.get("message_type", []):
            collect_msg(items, prefix, m, syntax)
    return items


def collect_enum(items, prefix, e):
    ename = prefix + "." + one(e, "name")
    items["enum " + ename] = ""
    for v in e.get("value", []):
        items["enumvalue %s.%s" % (ename, one(v, "name"))] = "number=" + one(v, "number")


def collect_msg(items, prefix, m, syntax):
    mname = prefix + "." + one(m, "name")
    items["message " + mname] = "syntax=" + syntax
    oneofs = [one(o, "name") for o in m.get("oneof_decl", [])]
    for fld in m.get("field", []):
        idx = one(fld, "oneof_index")
        oneof = oneofs[int(idx)] if idx is not None else "-"
        items["field %s.%s" % (mname, one(fld, "name"))] = (
            "number=%s type=%s label=%s type_name=%s oneof=%s proto3_optional=%s" % (
                one(fld, "number"), one(fld, "type"), one(fld, "label"),
                one(fld, "type_name", "-"), oneof, one(fld, "proto3_optional", "false")))
    for e in m.get("enum_type", []):
        collect_enum(items, mname, e)
    for nested in m.get("nested_type", []):
        collect_msg(items, mname, nested, syntax)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("etcd_dir", nargs="?", default=DEFAULT_ETCD,
                    help="etcd source tree (default: %(default)s)")
    ap.add_argument("--ours", default=os.path.join(REPO_ROOT, "proto"),
                    help="our proto root (default: %(default)s)")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every compared item")
    args = ap.parse_args()

    if not os.path.isdir(args.etcd_dir):
        die("etcd source dir %s does not exist" % args.etcd_dir)
    if not os.path.isdir(args.ours):
        die("our proto dir %s does not exist" % args.ours)
    protoc = find_protoc()
    desc_inc = find_descriptor_include(protoc)

    ours_files = sorted(
        os.path.relpath(os.path.join(d, n), args.ours)
        for d, _, names in os.walk(args.ours) for n in names if n.endswith(".proto"))
    if not ours_files:
        die("no .proto files under " + args.ours)

    with tempfile.TemporaryDirectory(prefix="check-proto-") as tmp:
        theirs_dir = os.path.join(tmp, "etcd")
        theirs_files = prepare_etcd(args.etcd_dir, theirs_dir)
        compile_set(protoc, theirs_dir, theirs_files, os.path.join(tmp, "theirs.pb"))
        compile_set(protoc, args.ours, ours_files, os.path.join(tmp, "ours.pb"))
        theirs = collect(decode_set(protoc, desc_inc, os.path.join(tmp, "theirs.pb")))
        ours = collect(decode_set(protoc, desc_inc, os.path.join(tmp, "ours.pb")))

    print("etcd:  %s (%s)" % (args.etcd_dir, ", ".join(theirs_files)))
    print("ours:  %s (%s)" % (args.ours, ", ".join(ours_files)))

    errors = []
    counts = {}
    for key in sorted(theirs):
        kind = key.split(" ", 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
        if key not in ours:
            errors.append("MISSING   %s  (etcd: %s)" % (key, theirs[key] or "present"))
        elif ours[key] != theirs[key]:
            errors.append("MISMATCH  %s\n            etcd: %s\n            ours: %s"
                          % (key, theirs[key], ours[key]))
        elif args.verbose:
            print("ok        %s  %s" % (key, theirs[key]))

    extras = sorted(k for k in ours if k not in theirs)
    for key in extras:
        label = "extra (3.6)" if key in FROM_36 else "extra (3.5)"
        print("%s  %s  %s" % (label, key, ours[key]))

    summary = ", ".join("%d %s" % (counts[k], k) for k in sorted(counts))
    print("compared %d etcd items (%s)" % (sum(counts.values()), summary))
    print("%d extra items only in ours" % len(extras))
    if errors:
        for e in errors:
            print(e)
        print("FAIL: %d mismatch(es)" % len(errors))
        return 1
    print("OK: every etcd item is present and identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
