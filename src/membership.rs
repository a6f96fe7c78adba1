//! Member and cluster identities, derived as etcd derives them so that the
//! same flags give the same ids: a member id is the first 8 bytes (big-endian)
//! of SHA-1 over its sorted peer URLs and the cluster token; the cluster id is
//! the same over the sorted member ids.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

impl From<crate::proto::etcdserverpb::Member> for Member {
    fn from(m: crate::proto::etcdserverpb::Member) -> Self {
        Member {
            id: m.id,
            name: m.name,
            peer_urls: m.peer_ur_ls,
            client_urls: m.client_ur_ls,
            is_learner: m.is_learner,
        }
    }
}

impl From<&Member> for crate::proto::etcdserverpb::Member {
    fn from(m: &Member) -> Self {
        crate::proto::etcdserverpb::Member {
            id: m.id,
            name: m.name.clone(),
            peer_ur_ls: m.peer_urls.clone(),
            client_ur_ls: m.client_urls.clone(),
            is_learner: m.is_learner,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub cluster_id: u64,
    pub local_id: u64,
    pub members: Vec<Member>,
}

pub fn member_id(peer_urls: &[String], cluster_token: &str) -> u64 {
    let mut urls: Vec<&str> = peer_urls.iter().map(String::as_str).collect();
    urls.sort_unstable();
    let mut hasher = sha1_smol::Sha1::new();
    for url in urls {
        hasher.update(url.as_bytes());
    }
    hasher.update(cluster_token.as_bytes());
    first_u64(&hasher.digest().bytes())
}

pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let mut hasher = sha1_smol::Sha1::new();
    for id in ids {
        hasher.update(&id.to_be_bytes());
    }
    first_u64(&hasher.digest().bytes())
}

fn first_u64(digest: &[u8; 20]) -> u64 {
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(head)
}

impl Membership {
    /// The bootstrap membership: every `name=url` of `--initial-cluster`
    /// (urls of one name grouped), the local member carrying its client URLs.
    pub fn bootstrap(
        initial_cluster: &[(String, String)],
        local_name: &str,
        local_client_urls: &[String],
        cluster_token: &str,
    ) -> Membership {
        let mut members: Vec<Member> = Vec::new();
        for (name, url) in initial_cluster {
            match members.iter_mut().find(|m| &m.name == name) {
                Some(member) => member.peer_urls.push(url.clone()),
                None => members.push(Member {
                    id: 0,
                    name: name.clone(),
                    peer_urls: vec![url.clone()],
                    client_urls: Vec::new(),
                    is_learner: false,
                }),
            }
        }
        let mut local_id = 0;
        for member in &mut members {
            member.id = member_id(&member.peer_urls, cluster_token);
            if member.name == local_name {
                member.client_urls = local_client_urls.to_vec();
                local_id = member.id;
            }
        }
        let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
        Membership {
            cluster_id: cluster_id(&ids),
            local_id,
            members,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_etcds_derivation() {
        // etcd 3.4 started with all-default flags reports member 8e9e05c52164694d
        // and cluster cdf818194e3a8c32.
        let peers = vec!["http://localhost:2380".to_string()];
        let id = member_id(&peers, "etcd-cluster");
        assert_eq!(id, 0x8e9e05c52164694d);
        assert_eq!(cluster_id(&[id]), 0xcdf818194e3a8c32);
    }

    #[test]
    fn bootstrap_groups_urls_and_marks_the_local_member() {
        let cluster = vec![
            ("a".to_string(), "http://127.0.0.1:1".to_string()),
            ("b".to_string(), "http://127.0.0.1:2".to_string()),
            ("a".to_string(), "http://127.0.0.1:3".to_string()),
        ];
        let m = Membership::bootstrap(&cluster, "a", &["http://127.0.0.1:9".to_string()], "t");
        assert_eq!(m.members.len(), 2);
        assert_eq!(m.members[0].peer_urls.len(), 2);
        assert_eq!(m.local_id, m.members[0].id);
        assert_eq!(
            m.members[0].client_urls,
            vec!["http://127.0.0.1:9".to_string()]
        );
    }
}
