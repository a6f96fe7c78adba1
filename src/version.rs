//! The versions oxcd reports. Clients gate features on the etcd server
//! version (Kubernetes' apiserver sends watch progress requests only to
//! etcd 3.5.13 or later), so oxcd reports the etcd 3.5 release whose
//! behaviour it matches, and its own version beside it.

/// The etcd server release oxcd answers as (Status.version, `/version`).
pub const ETCD_SERVER_VERSION: &str = "3.5.13";

/// The cluster version etcd 3.5 members agree on (major.minor.0).
pub const ETCD_CLUSTER_VERSION: &str = "3.5.0";

/// This build of oxcd.
pub const OXCD_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Go's name for this platform, as `etcd --version` prints it.
fn go_os_arch() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

/// What `oxcd --version` prints: etcd's lines (scripts read the first one)
/// followed by oxcd's own.
pub fn version_text() -> String {
    format!(
        "etcd Version: {ETCD_SERVER_VERSION}\n\
         Git SHA: Not provided (oxcd build)\n\
         Go Version: none (oxcd is written in Rust)\n\
         Go OS/Arch: {}\n\
         oxcd Version: {OXCD_VERSION}\n",
        go_os_arch()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_an_etcd_release_kubernetes_trusts_with_progress_requests() {
        let parts: Vec<u32> = ETCD_SERVER_VERSION
            .split('.')
            .map(|p| p.parse().unwrap_or(0))
            .collect();
        assert_eq!(parts[..2], [3, 5]);
        assert!(parts[2] >= 13, "{ETCD_SERVER_VERSION}");
        assert!(ETCD_CLUSTER_VERSION.starts_with("3.5."));
    }

    #[test]
    fn version_text_starts_like_etcds() {
        let text = version_text();
        assert!(text.starts_with(&format!("etcd Version: {ETCD_SERVER_VERSION}\n")));
        assert!(text.contains(&format!("oxcd Version: {OXCD_VERSION}")));
        assert!(text.contains("Go OS/Arch: linux/"), "{text}");
    }
}
