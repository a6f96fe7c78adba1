//! Differential tests: every scenario under tests/scenarios/<area>/ runs against the
//! reference etcd and against oxcd, each on a fresh server; normalised outputs must match.
//! `OXCD_DIFF_SELF_TEST=1` runs etcd on both sides (proves the normalisation).
//! See docs/testing.md.

use crate::common;

use common::scenario::{run_area, run_other_areas};

const AREAS: &[&str] = &[
    "kv",
    "watch",
    "lease",
    "auth",
    "cluster",
    "maintenance",
    "lock",
    "election",
];

#[test]
fn kv() {
    run_area("kv");
}

#[test]
fn watch() {
    run_area("watch");
}

#[test]
fn lease() {
    run_area("lease");
}

#[test]
fn auth() {
    run_area("auth");
}

#[test]
fn cluster() {
    run_area("cluster");
}

#[test]
fn maintenance() {
    run_area("maintenance");
}

#[test]
fn lock() {
    run_area("lock");
}

#[test]
fn election() {
    run_area("election");
}

/// Areas without a test function of their own.
#[test]
fn other_areas() {
    run_other_areas(AREAS);
}

// ---------------------------------------------------------------------------------------
// Unit tests of the harness itself (no server needed).
// ---------------------------------------------------------------------------------------

mod harness {
    use super::common::ctl::CtlOutput;
    use super::common::diff::line_diff;
    use super::common::normalize::{decode_message, Normalizer, Template};
    use super::common::scenario::{compare, Action, Piece, Record, Scenario, SideResult};
    use std::path::Path;

    fn parse(text: &str) -> Result<Scenario, String> {
        Scenario::parse(text, Path::new("t.scn"), "t/t")
    }

    fn lit(s: &[u8]) -> Vec<Piece> {
        vec![Piece::Lit(s.to_vec())]
    }

    fn out(stdout: &str, stderr: &str, code: i32) -> CtlOutput {
        CtlOutput {
            code: Some(code),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
            timed_out: false,
        }
    }

    #[test]
    fn progress_bars_are_left_out() {
        use super::common::normalize::strip_progress_bar;
        assert_eq!(strip_progress_bar(b"  60 / 60  100.00% 1m0s"), b"");
        assert_eq!(
            strip_progress_bar(b" 59 / 60   98.33%Compacting with revision 8"),
            b"Compacting with revision 8"
        );
        assert_eq!(strip_progress_bar(b" 1 / 60    1.67% 00m59s"), b"");
        assert_eq!(strip_progress_bar(b"PASS: 100% fine"), b"PASS: 100% fine");
    }

    #[test]
    fn a_timed_verdict_is_left_out_but_required() {
        use super::common::normalize::drop_timed_verdict;
        let pass = "out| Compacted with revision *\nout| PASS: Throughput is * writes/s\n\
                    out| PASS: Slowest request took *s\nout| PASS: Stddev is *s\nout| PASS\nexit 0";
        let fail = "out| Compacted with revision *\nout| PASS: Throughput is * writes/s\n\
                    out| Slowest request took too long: *s\nout| Stddev too high: *s\n\
                    out| FAIL\nexit 1";
        assert_eq!(drop_timed_verdict(pass), drop_timed_verdict(fail));
        // the same failure after `@mask "Slowest request took {}s"`
        let masked_fail = "out| Compacted with revision *\nout| PASS: Throughput is * writes/s\n\
                           out| Slowest request took *s\nout| PASS: Stddev is *s\n\
                           out| FAIL\nexit 1";
        assert_eq!(drop_timed_verdict(pass), drop_timed_verdict(masked_fail));
        assert_eq!(
            drop_timed_verdict(pass).as_deref(),
            Some("out| Compacted with revision *")
        );
        // errors are behaviour, not timing: they stay compared
        let errors = "out| FAIL: too many errors\nout| FAIL: ERROR(x) -> 3\nexit 1";
        assert_eq!(
            drop_timed_verdict(errors).as_deref(),
            Some("out| FAIL: too many errors\nout| FAIL: ERROR(x) -> 3")
        );
        assert_eq!(drop_timed_verdict("err| connection refused\nexit 1"), None);
    }

    #[test]
    fn words_quotes_escapes_and_expansions() {
        let s = parse("put \"a b\" 'c\\x' d\\ e \"\\x01\\xff\\n\" \"\" k${V}z ${repeat 3 ab}\n")
            .unwrap();
        let Action::Ctl { args, stdin } = &s.steps[0].action else {
            panic!()
        };
        assert!(stdin.is_none());
        assert_eq!(args[0], lit(b"put"));
        assert_eq!(args[1], lit(b"a b"));
        assert_eq!(args[2], lit(b"c\\x"));
        assert_eq!(args[3], lit(b"d e"));
        assert_eq!(args[4], lit(b"\x01\xff\n"));
        assert_eq!(args[5], lit(b""));
        assert_eq!(
            args[6],
            vec![
                Piece::Lit(b"k".to_vec()),
                Piece::Var("V".into()),
                Piece::Lit(b"z".to_vec())
            ]
        );
        assert_eq!(args[7], lit(b"ababab"));
    }

    #[test]
    fn heredocs_and_directives() {
        let s = parse(
            "# comment\n@flags --max-txn-ops=2 --x=\"y z\"\n@members 3\n\
             txn -w json <<EOF\nvalue(\"a\") = \"${L}\"\n\nput a 1\n\n\nEOF\n\
             @expect \"SUCCESS\"\n@bg w1 watch a\n@sleep 1.5s\n@stop w1\n\
             @let L:hex \"\\\"ID\\\":{},\"\n@restart 2\n@use all\n@mask \"TTL({})\"\n@sort\n",
        )
        .unwrap();
        assert_eq!(s.flags, vec!["--max-txn-ops=2", "--x=y z"]);
        assert_eq!(s.members, 3);
        assert_eq!(s.command_count(), 2);
        let Action::Ctl {
            stdin: Some(body), ..
        } = &s.steps[0].action
        else {
            panic!()
        };
        assert_eq!(
            body,
            &vec![
                Piece::Lit(b"value(\"a\") = \"".to_vec()),
                Piece::Var("L".into()),
                Piece::Lit(b"\"\n\nput a 1\n\n\n".to_vec()),
            ]
        );
        assert!(matches!(s.steps[2].action, Action::Bg { .. }));
        assert!(
            matches!(s.steps[3].action, Action::Sleep(d) if d == std::time::Duration::from_millis(1500))
        );
        // quoted delimiter: no expansion
        let s = parse("txn <<'END'\n${X}\nEND\n").unwrap();
        let Action::Ctl {
            stdin: Some(body), ..
        } = &s.steps[0].action
        else {
            panic!()
        };
        assert_eq!(body, &lit(b"${X}\n"));
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "@bogus\nget a\n",
            "get a\n@flags --x\n",
            "@expect \"x\"\nget a\n",
            "txn <<EOF\nnever closed\n",
            "put \"unterminated\n",
            "@stop w9\n",
            "@sleep 5\nget a\n",
            "# only a comment\n",
            "put a ${bad name!}\n",
        ] {
            assert!(parse(bad).is_err(), "should not parse: {bad:?}");
        }
    }

    #[test]
    fn json_ids_terms_and_text_ids_share_placeholders() {
        let mut n = Normalizer::new();
        let json = r#"{"header":{"cluster_id":14841639068965178418,"member_id":10276657743932975437,"revision":5,"raft_term":2},"ID":7587855135339653638,"TTL":60}"#;
        let a = n.normalize(&out(json, "", 0), false);
        // placeholders follow the (sorted) key order of the normalised JSON
        assert!(a.contains("\"ID\": \"<id1>\""), "{a}");
        assert!(a.contains("\"cluster_id\": \"<id2>\""), "{a}");
        assert!(a.contains("\"member_id\": \"<id3>\""), "{a}");
        assert!(a.contains("\"raft_term\": \"<term>\""), "{a}");
        assert!(a.contains("\"revision\": 5"), "{a}");
        // the same lease id printed in hex in simple output
        let b = n.normalize(
            &out("lease 694d7a0b1d0b2a06 granted with TTL(60s)\n", "", 0),
            false,
        );
        assert_eq!(b, "out| lease <id1> granted with TTL(60s)\nexit 0");
        // fields format
        let c = n.normalize(
            &out("\"ClusterID\" : 14841639068965178418\n\"RaftTerm\" : 0\n\"Lease\" : 7587855135339653638\n\"Revision\" : 9\n", "", 0),
            false,
        );
        assert_eq!(
            c,
            "out| \"ClusterID\" : <id2>\nout| \"RaftTerm\" : 0\nout| \"Lease\" : <id1>\nout| \"Revision\" : 9\nexit 0"
        );
    }

    #[test]
    fn right_aligned_ids_lose_their_padding() {
        let mut n = Normalizer::new();
        n.preset_id(0x0192_1cab_f916_3956, "<cluster>");
        let line = "Member 8eb320c7fd6ca837 added to cluster  1921cabf9163956";
        assert_eq!(
            n.norm_text_line(line),
            "Member <id1> added to cluster <cluster>"
        );
        assert_eq!(n.norm_text_line("a  b   <dir>"), "a  b   <dir>");
    }

    #[test]
    fn client_log_lines_ports_paths_and_masks() {
        let mut n = Normalizer::new();
        n.add_port(41234, "client1");
        n.add_literal("/tmp/oxcd-test-x", "<dir>");
        let stderr = "{\"level\":\"warn\",\"ts\":\"2026-01-01T00:00:00Z\",\"msg\":\"retrying\",\"attempt\":0,\"error\":\"rpc error: code = NotFound desc = etcdserver: requested lease not found\"}\n\
                      Error: etcdserver: requested lease not found\n";
        let r = n.normalize(&out("", stderr, 1), false);
        assert_eq!(
            r,
            "err| client-log: rpc error: code = NotFound desc = etcdserver: requested lease not found\n\
             err| Error: etcdserver: requested lease not found\nexit 1"
        );
        let r = n.normalize(
            &out(
                "http://127.0.0.1:41234 /tmp/oxcd-test-x/snap 127.0.0.1:412345\n",
                "",
                0,
            ),
            false,
        );
        assert_eq!(
            r,
            "out| http://127.0.0.1:<client1> <dir>/snap 127.0.0.1:412345\nexit 0"
        );
        n.add_mask(Template::parse("remaining({}s)").unwrap());
        let r = n.normalize(&out("granted with TTL(60s), remaining(59s)", "", 0), false);
        assert_eq!(
            r,
            "out| granted with TTL(60s), remaining(*s)\nout| <no newline at end>\nexit 0"
        );
    }

    #[test]
    fn json_keys_and_values_are_annotated_with_their_text() {
        let mut n = Normalizer::new();
        let r = n.normalize(
            &out(
                r#"{"kvs":[{"key":"Zm9v","value":"AQL/"},{"key":"YQ==","value":""}]}"#,
                "",
                0,
            ),
            false,
        );
        assert!(r.contains(r#""key": "Zm9v (foo)""#), "{r}");
        assert!(r.contains(r#""value": "AQL/ (\\x01\\x02\\xff)""#), "{r}");
        assert!(r.contains(r#""key": "YQ== (a)""#), "{r}");
        assert!(r.contains(r#""value": """#), "{r}");
    }

    #[test]
    fn templates() {
        let t = Template::parse("lease {} granted").unwrap();
        assert_eq!(
            t.capture("x\nlease 694d7a0b1d0b2a06 granted with TTL(5s)"),
            Some("694d7a0b1d0b2a06")
        );
        let t = Template::parse("\"ID\":{},").unwrap();
        assert_eq!(t.capture("{\"a\":1,\"ID\":42,\"TTL\":5}"), Some("42"));
        let t = Template::parse("rev={}").unwrap();
        assert_eq!(t.mask("a rev=12 b rev=3"), "a rev=* b rev=*");
        let t = Template::parse("{}ms").unwrap();
        assert_eq!(t.mask("took 15ms and 3ms"), "took *ms and *ms");
        assert!(Template::parse("no hole").is_err());
        assert!(Template::parse("{} and {}").is_err());
    }

    #[test]
    fn protobuf_output_is_decoded_and_normalised() {
        // RangeResponse{header{cluster_id: 2^40, member_id: 7, revision: 3, raft_term: 2},
        //               kvs[{key:"foo", value:"bar"}], count: 1}
        let mut header = vec![0x08];
        header.extend([0x80, 0x80, 0x80, 0x80, 0x80, 0x20]); // 2^40
        header.extend([0x10, 0x07, 0x18, 0x03, 0x20, 0x02]);
        let kv = [0x0a, 3, b'f', b'o', b'o', 0x2a, 3, b'b', b'a', b'r'];
        let mut msg = vec![0x0a, header.len() as u8];
        msg.extend(&header);
        msg.extend([0x12, kv.len() as u8]);
        msg.extend(kv);
        msg.extend([0x20, 0x01]);
        assert!(decode_message(&msg).is_some());
        let mut n = Normalizer::new();
        let r = n.normalize(
            &CtlOutput {
                code: Some(0),
                stdout: msg,
                ..Default::default()
            },
            true,
        );
        assert_eq!(
            r,
            "out| <protobuf>\nout|   1 {\nout|     1: <id1>\nout|     2: <id2>\nout|     3: 3\n\
             out|     4: <term>\nout|   }\nout|   2 {\nout|     1: \"foo\"\nout|     5: \"bar\"\n\
             out|   }\nout|   4: 1\nexit 0"
        );
    }

    #[test]
    fn sorted_normalisation() {
        let mut n = Normalizer::new();
        let o = out("{\"members\":[{\"name\":\"b\"},{\"name\":\"a\"}]}", "", 0);
        let r = n.normalize_sorted(&o, false);
        assert!(r.find("\"a\"").unwrap() < r.find("\"b\"").unwrap(), "{r}");
        let r = n.normalize_sorted(&out("z\ny\n", "", 0), false);
        assert_eq!(r, "out| y\nout| z\nexit 0");
    }

    #[test]
    fn compare_reports_every_mismatch_and_missing_commands() {
        let rec = |line: usize, output: &str| Record {
            line,
            source: format!("cmd{line}"),
            output: output.to_string(),
        };
        let a = SideResult {
            label: "etcd".into(),
            records: vec![rec(1, "exit 0"), rec(2, "out| a\nexit 0"), rec(3, "exit 0")],
            ..Default::default()
        };
        let b = SideResult {
            label: "oxcd".into(),
            records: vec![rec(1, "exit 1"), rec(2, "out| b\nexit 0")],
            errors: vec!["line 3: cmd3: aborted: boom".into()],
            ..Default::default()
        };
        let p = compare(&a, &b);
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(p[0].starts_with("[oxcd] line 3"), "{p:#?}");
        assert!(p[1].starts_with("line 1: cmd1\n"), "{p:#?}");
        assert!(p[2].contains("    - out| a\n    + out| b\n"), "{p:#?}");
        assert_eq!(
            p[3],
            "1 of 3 commands did not run on oxcd (from line 3: cmd3)"
        );
    }

    #[test]
    fn diff_shows_changed_lines() {
        let d = line_diff("a\nb\nc", "a\nx\nc", "etcd", "oxcd");
        assert!(d.contains("    - b\n"), "{d}");
        assert!(d.contains("    + x\n"), "{d}");
        assert!(d.contains("      a\n"), "{d}");
    }
}
