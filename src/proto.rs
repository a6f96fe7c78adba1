//! Generated etcd v3 wire types and gRPC clients/servers (see `proto/` and `build.rs`).
//!
//! One module per protobuf package; cross-package references resolve through
//! `super::` (e.g. `etcdserverpb::RangeResponse::kvs` is `Vec<mvccpb::KeyValue>`).
#![allow(clippy::all, missing_docs)]

/// Keys, values and watch events.
pub mod mvccpb {
    tonic::include_proto!("mvccpb");
}

/// Persisted auth users, roles and permissions.
pub mod authpb {
    tonic::include_proto!("authpb");
}

/// Cluster-membership raft payloads (etcd 3.5).
pub mod membershippb {
    tonic::include_proto!("membershippb");
}

/// The v3 client API (KV, Watch, Lease, Cluster, Maintenance, Auth) plus the raft entry payload.
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}

/// The Lock service.
pub mod v3lockpb {
    tonic::include_proto!("v3lockpb");
}

/// The Election service.
pub mod v3electionpb {
    tonic::include_proto!("v3electionpb");
}

/// oxcd's member-to-member protocol (raft messages), served on the peer URLs.
pub mod oxcdpeer {
    tonic::include_proto!("oxcdpeer");
}

/// oxcd's own storage records (the auth state).
pub mod oxcdstore {
    tonic::include_proto!("oxcdstore");
}

/// Encoded `FileDescriptorSet` of every package above (for gRPC reflection or a JSON gateway).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/etcd_descriptor.bin"));
