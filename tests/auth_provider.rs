//! The `static-file` auth provider, end to end: oxcd started from
//! config/auth-static-file.toml (users and roles from
//! config/auth-static-users.toml), used with `etcdctl --user`.

use crate::common;

use std::time::Duration;

use common::{etcdctl, Cluster, ServerKind};

fn start() -> Cluster {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/auth-static-file.toml");
    Cluster::start_with_args(ServerKind::Oxcd, &[format!("--config-file={config}")])
}

/// Exit status and the text etcdctl printed.
fn run(cluster: &Cluster, args: &[&str]) -> (bool, String) {
    let out = cluster.ctl(args);
    (
        out.success(),
        format!("{}{}", out.stdout_str(), out.stderr_str()),
    )
}

#[test]
fn users_from_the_file_log_in_and_get_what_their_roles_grant() {
    let cluster = start();
    let alice = "--user=alice:alicepw";
    let admin = "--user=admin:adminpw";

    let (ok, out) = run(&cluster, &[alice, "put", "app/x", "1"]);
    assert!(ok, "{out}");
    let (ok, out) = run(&cluster, &[alice, "get", "app/", "--prefix"]);
    assert!(ok && out.contains("app/x\n1"), "{out}");
    let (ok, out) = run(&cluster, &[alice, "put", "config", "v"]);
    assert!(
        !ok && out.contains("etcdserver: permission denied"),
        "{out}"
    );
    let (ok, out) = run(&cluster, &[alice, "get", "secret"]);
    assert!(
        !ok && out.contains("etcdserver: permission denied"),
        "{out}"
    );
    let (ok, out) = run(&cluster, &[alice, "get", "config"]);
    assert!(ok, "{out}");
    // A txn whose compare reads a key outside the role is refused whole.
    let txn = cluster.ctl_stdin(
        &[alice, "txn"],
        b"value(\"secret\") = \"x\"\n\nput app/y 2\n\nput app/y 3\n\n",
    );
    assert!(
        !txn.success() && txn.stderr_str().contains("permission denied"),
        "{txn:?}"
    );

    let (ok, out) = run(&cluster, &["--user=alice:wrong", "get", "app/x"]);
    assert!(
        !ok && out.contains("authentication failed, invalid user ID or password"),
        "{out}"
    );
    let (ok, out) = run(&cluster, &["get", "app/x"]);
    assert!(
        !ok && out.contains("etcdserver: user name is empty"),
        "{out}"
    );

    // Admin-only RPCs: the provider's root role decides.
    let (ok, out) = run(&cluster, &[alice, "user", "list"]);
    assert!(!ok && out.contains("permission denied"), "{out}");
    let (ok, out) = run(&cluster, &[admin, "user", "list"]);
    assert!(ok, "{out}");
    let (ok, out) = run(&cluster, &[admin, "put", "secret", "s"]);
    assert!(ok, "{out}");
    // etcd's own auth cannot be turned on under a provider.
    let (ok, out) = run(&cluster, &[admin, "auth", "enable"]);
    assert!(!ok && out.contains("--auth-provider"), "{out}");
}

#[test]
fn watches_are_checked_by_the_provider() {
    let cluster = start();
    let (ok, out) = run(&cluster, &["--user=alice:alicepw", "put", "app/w", "1"]);
    assert!(ok, "{out}");
    // etcdctl watch runs until killed; what matters is what it printed.
    let watch = |args: &[&str]| etcdctl(&cluster.endpoint(), args, None, Duration::from_secs(3));
    let ok_watch = watch(&[
        "--user=alice:alicepw",
        "watch",
        "app/",
        "--prefix",
        "--rev=1",
    ]);
    let printed = format!("{}{}", ok_watch.stdout_str(), ok_watch.stderr_str());
    assert!(printed.contains("app/w"), "{printed}");
    let denied = watch(&["--user=alice:alicepw", "watch", "secret", "--rev=1"]);
    let printed = format!("{}{}", denied.stdout_str(), denied.stderr_str());
    assert!(printed.contains("permission denied"), "{printed}");
}
