//! `oxcd`: the server daemon. Flags are etcd's (plus `--config-file`).

use std::process::ExitCode;

use oxcd::actors::auth::registry::ProviderRegistry;

/// gRPC, HTTP/2 and protobuf allocate per request; mimalloc is faster than
/// glibc's allocator for that pattern and returns memory more readily.
/// `--features system-allocator` leaves glibc's in place, for heap profilers
/// (heaptrack) that hook malloc and cannot see mimalloc's arenas.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    oxcd::run(std::env::args_os(), ProviderRegistry::with_builtins())
}
