//! Generates the etcd v3 wire types and gRPC services from `proto/`.
//! protoc comes from the `protoc-bin-vendored` crate so a fresh machine needs nothing installed.

/// Every .proto under `proto/`; import paths inside them are relative to `proto/`.
const PROTOS: &[&str] = &[
    "proto/mvccpb/kv.proto",
    "proto/authpb/auth.proto",
    "proto/membershippb/membership.proto",
    "proto/etcdserverpb/etcdserver.proto",
    "proto/etcdserverpb/rpc.proto",
    "proto/etcdserverpb/raft_internal.proto",
    "proto/v3lockpb/v3lock.proto",
    "proto/v3electionpb/v3election.proto",
    "proto/oxcdpeer/peer.proto",
    "proto/oxcdstore/auth_state.proto",
    "proto/oxcdstore/alarm_state.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY-free: build scripts are single-threaded, setting PROTOC only affects this process.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=build.rs");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Kept for gRPC reflection / the JSON gateway (see `proto::FILE_DESCRIPTOR_SET`).
        .file_descriptor_set_path(out_dir.join("etcd_descriptor.bin"))
        .compile_protos(PROTOS, &["proto"])?;
    Ok(())
}
