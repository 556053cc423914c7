//! wcprovider: a wasmCloud-style `wrpc:keyvalue@0.2.0-draft` provider for tests, built on the
//! official `wasmcloud-provider-sdk` (the SDK every wasmCloud 1.x provider is built on).
//!
//! It starts the way a wasmCloud host starts a provider (HostData, base64 of JSON, on stdin),
//! takes its links from the SDK (`receive_link_config_as_target`), picks the link of every call
//! from the `source-id` / `link-name` headers the SDK hands over as the invocation context, and
//! keeps one in-memory store per link. See README.md for the HostData it needs and the exact
//! behaviour of every function.

mod kv;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::filter::LevelFilter;
use wasmcloud_provider_sdk::anyhow::{self, Context as _};
use wasmcloud_provider_sdk::{get_connection, run_provider, serve_provider_exports};

mod bindings {
    wit_bindgen_wrpc::generate!({ world: "provider" });
}

/// The name the provider gives its NATS connection and the SDK's logs.
const NAME: &str = "wcprovider";

/// Resolves when stdin reaches EOF (or fails). The SDK has read the HostData line by then; the
/// rest of stdin goes through the same buffered handle, so nothing is lost or read twice.
async fn stdin_closed() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 1024];
    loop {
        match stdin.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn run() -> anyhow::Result<()> {
    // Listen for signals before announcing readiness, so that a SIGTERM sent right after `ready`
    // still means a clean exit.
    let mut sigterm = signal(SignalKind::terminate()).context("failed to listen for SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("failed to listen for SIGINT")?;

    let provider = kv::KvProvider::default();
    // Reads HostData from stdin, connects to NATS, subscribes the host's control subjects
    // (link put/del, health, shutdown, config) and hands every HostData link to the provider.
    let host_shutdown = run_provider(provider.clone(), NAME)
        .await
        .context("failed to run provider")?;
    let connection = get_connection();
    // Serves at `<lattice>.<provider_key>` with queue group `<lattice>.<provider_key>`.
    let wrpc = connection
        .get_wrpc_client(connection.provider_key())
        .await
        .context("failed to create the wRPC client")?;
    let nats = Arc::clone(&connection.nats);
    eprintln!(
        "{NAME}: provider `{}` in lattice `{}`",
        connection.provider_key(),
        connection.lattice
    );

    // `host_shutdown` also processes link puts/deletes and health checks from the host, so it
    // must be polled for as long as the provider runs; serve_provider_exports does that.
    let shutdown = async move {
        tokio::select! {
            () = host_shutdown => eprintln!("{NAME}: shutdown requested by the host, exiting"),
            _ = sigterm.recv() => eprintln!("{NAME}: SIGTERM, exiting"),
            _ = sigint.recv() => eprintln!("{NAME}: SIGINT, exiting"),
            () = stdin_closed() => eprintln!("{NAME}: stdin closed, exiting"),
        }
    };
    let ready_nats = Arc::clone(&nats);
    serve_provider_exports(&wrpc, provider, shutdown, |wrpc, provider| async move {
        let invocations = bindings::serve(wrpc, provider).await?;
        // The subscriptions are made; flush so that callers on other connections can't race
        // them, then tell the parent.
        ready_nats.flush().await.context("failed to flush NATS")?;
        let mut out = tokio::io::stdout();
        out.write_all(b"ready\n").await?;
        out.flush().await?;
        eprintln!("{NAME}: serving wrpc:keyvalue@0.2.0-draft store, atomics, batch");
        Ok(invocations)
    })
    .await
    .context("failed to serve provider exports")?;

    // Best effort: push out anything still buffered.
    let _ = tokio::time::timeout(Duration::from_secs(1), nats.flush()).await;
    Ok(())
}

fn main() -> ExitCode {
    // SDK and provider logs go to stderr; `WCPROVIDER_LOG` = off|error|warn|info|debug|trace.
    let level = std::env::var("WCPROVIDER_LOG")
        .ok()
        .and_then(|v| v.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_max_level(level)
        .init();

    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("{NAME}: failed to start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let res = rt.block_on(run());
    // Don't wait for tasks parked on the connection or on a blocking stdin read.
    rt.shutdown_background();
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{NAME}: {err:#}");
            ExitCode::FAILURE
        }
    }
}
