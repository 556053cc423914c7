//! `rustpeer serve`: an in-memory wrpc:keyvalue provider served with the official bindings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context as _};
use bytes::Bytes;
use futures::StreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::signal::unix::{signal, SignalKind};
use wrpc_transport_nats::NatsContext;

use crate::server_bindings::exports::wrpc::keyvalue::{atomics, batch, store};
use crate::Args;
use store::{Error, KeyResponse};

/// Keys per `list-keys` page; small on purpose so that callers must follow the cursor.
const PAGE: usize = 2;

#[derive(Clone, Default)]
struct Kv {
    data: Arc<Mutex<HashMap<(String, String), Bytes>>>,
}

/// Buckets with special behaviour, so a caller can provoke every error case.
///
/// `Ok(Err(e))` is an application error to return as a value; `Err(_)` makes the handler fail,
/// which the transport reports by closing the results stream without a value.
fn check_bucket(bucket: &str) -> anyhow::Result<Result<(), Error>> {
    match bucket {
        "no-such-store" => Ok(Err(Error::NoSuchStore)),
        "access-denied" => Ok(Err(Error::AccessDenied)),
        "other" => Ok(Err(Error::Other("boom".to_string()))),
        "fail" => Err(anyhow!("bucket `fail` fails every call on purpose")),
        _ => Ok(Ok(())),
    }
}

macro_rules! check_bucket {
    ($bucket:expr) => {
        if let Err(e) = check_bucket(&$bucket)? {
            return Ok(Err(e));
        }
    };
}

/// The value of the invocation's NATS header `name` (first value, exact name match).
fn header(cx: &NatsContext, name: &str) -> Option<Bytes> {
    let headers = cx.headers.as_ref()?;
    headers.iter().find_map(|(k, vs)| {
        let k: &[u8] = k.as_ref();
        if k == name.as_bytes() {
            vs.first()
                .map(|v| Bytes::copy_from_slice(v.as_str().as_bytes()))
        } else {
            None
        }
    })
}

impl Kv {
    fn lock(&self) -> anyhow::Result<std::sync::MutexGuard<'_, HashMap<(String, String), Bytes>>> {
        self.data
            .lock()
            .map_err(|_| anyhow!("store mutex poisoned"))
    }
}

impl store::Handler<NatsContext> for Kv {
    async fn get(
        &self,
        cx: NatsContext,
        bucket: String,
        key: String,
    ) -> anyhow::Result<Result<Option<Bytes>, Error>> {
        check_bucket!(bucket);
        if bucket == "headers" {
            return Ok(Ok(header(&cx, &key)));
        }
        Ok(Ok(self.lock()?.get(&(bucket, key)).cloned()))
    }

    async fn set(
        &self,
        _cx: NatsContext,
        bucket: String,
        key: String,
        value: Bytes,
    ) -> anyhow::Result<Result<(), Error>> {
        check_bucket!(bucket);
        self.lock()?.insert((bucket, key), value);
        Ok(Ok(()))
    }

    async fn delete(
        &self,
        _cx: NatsContext,
        bucket: String,
        key: String,
    ) -> anyhow::Result<Result<(), Error>> {
        check_bucket!(bucket);
        self.lock()?.remove(&(bucket, key));
        Ok(Ok(()))
    }

    async fn exists(
        &self,
        _cx: NatsContext,
        bucket: String,
        key: String,
    ) -> anyhow::Result<Result<bool, Error>> {
        check_bucket!(bucket);
        Ok(Ok(self.lock()?.contains_key(&(bucket, key))))
    }

    async fn list_keys(
        &self,
        _cx: NatsContext,
        bucket: String,
        cursor: Option<u64>,
    ) -> anyhow::Result<Result<KeyResponse, Error>> {
        check_bucket!(bucket);
        let mut keys: Vec<String> = self
            .lock()?
            .keys()
            .filter(|(b, _)| *b == bucket)
            .map(|(_, k)| k.clone())
            .collect();
        keys.sort();
        let start = usize::try_from(cursor.unwrap_or(0))
            .unwrap_or(usize::MAX)
            .min(keys.len());
        let end = start.saturating_add(PAGE).min(keys.len());
        let cursor = (end < keys.len()).then_some(end as u64);
        Ok(Ok(KeyResponse {
            keys: keys.drain(start..end).collect(),
            cursor,
        }))
    }
}

impl atomics::Handler<NatsContext> for Kv {
    async fn increment(
        &self,
        _cx: NatsContext,
        bucket: String,
        key: String,
        delta: u64,
    ) -> anyhow::Result<Result<u64, Error>> {
        check_bucket!(bucket);
        let mut data = self.lock()?;
        let k = (bucket, key);
        let current = match data.get(&k) {
            None => 0,
            Some(v) => match std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
            {
                Some(n) => n,
                None => return Ok(Err(Error::Other("value is not a number".to_string()))),
            },
        };
        let Some(next) = current.checked_add(delta) else {
            return Ok(Err(Error::Other("overflow".to_string())));
        };
        data.insert(k, Bytes::from(next.to_string()));
        Ok(Ok(next))
    }
}

impl batch::Handler<NatsContext> for Kv {
    async fn get_many(
        &self,
        _cx: NatsContext,
        bucket: String,
        keys: Vec<String>,
    ) -> anyhow::Result<Result<Vec<Option<(String, Bytes)>>, Error>> {
        check_bucket!(bucket);
        let data = self.lock()?;
        Ok(Ok(keys
            .into_iter()
            .map(|key| {
                let v = data.get(&(bucket.clone(), key.clone())).cloned();
                v.map(|v| (key, v))
            })
            .collect()))
    }

    async fn set_many(
        &self,
        _cx: NatsContext,
        bucket: String,
        key_values: Vec<(String, Bytes)>,
    ) -> anyhow::Result<Result<(), Error>> {
        check_bucket!(bucket);
        let mut data = self.lock()?;
        for (key, value) in key_values {
            data.insert((bucket.clone(), key), value);
        }
        Ok(Ok(()))
    }

    async fn delete_many(
        &self,
        _cx: NatsContext,
        bucket: String,
        keys: Vec<String>,
    ) -> anyhow::Result<Result<(), Error>> {
        check_bucket!(bucket);
        let mut data = self.lock()?;
        for key in keys {
            data.remove(&(bucket.clone(), key));
        }
        Ok(Ok(()))
    }
}

/// Resolves when stdin reaches EOF (or fails), so a parent that dies takes the server with it.
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

pub async fn run(args: Args) -> anyhow::Result<()> {
    // Listen for signals before announcing readiness, so that a SIGTERM sent right after `ready`
    // still means a clean exit.
    let mut sigterm = signal(SignalKind::terminate()).context("failed to listen for SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("failed to listen for SIGINT")?;

    let nats = async_nats::connect(&args.nats)
        .await
        .with_context(|| format!("failed to connect to NATS at {}", args.nats))?;
    let prefix: Arc<str> = Arc::from(args.prefix.as_str());
    // Queue group = prefix, as wasmCloud providers serve.
    let wrpc = wrpc_transport_nats::Client::new(nats.clone(), Arc::clone(&prefix), Some(prefix))
        .await
        .context("failed to create the wRPC NATS client")?;
    let invocations = crate::server_bindings::serve(&wrpc, Kv::default())
        .await
        .context("failed to serve wrpc:keyvalue")?;

    let mut streams = tokio::task::JoinSet::new();
    for (instance, name, mut invocations) in invocations {
        streams.spawn(async move {
            while let Some(invocation) = invocations.next().await {
                match invocation {
                    Ok(fut) => {
                        tokio::spawn(async move {
                            if let Err(err) = fut.await {
                                eprintln!("rustpeer serve: {instance}.{name}: {err:#}");
                            }
                        });
                    }
                    Err(err) => {
                        eprintln!("rustpeer serve: {instance}.{name}: failed to accept: {err:#}")
                    }
                }
            }
            eprintln!("rustpeer serve: {instance}.{name}: subscription ended");
        });
    }
    // Every serve subscription has been flushed by the transport; flush once more for good measure
    // so that callers on other connections can't race the subscriptions.
    nats.flush().await.context("failed to flush NATS")?;

    let mut out = tokio::io::stdout();
    out.write_all(b"ready\n").await?;
    out.flush().await?;
    eprintln!(
        "rustpeer serve: serving wrpc:keyvalue@0.2.0-draft store, atomics, batch at prefix `{}`",
        args.prefix
    );

    tokio::select! {
        _ = sigterm.recv() => eprintln!("rustpeer serve: SIGTERM, exiting"),
        _ = sigint.recv() => eprintln!("rustpeer serve: SIGINT, exiting"),
        () = stdin_closed() => eprintln!("rustpeer serve: stdin closed, exiting"),
        _ = async { while streams.join_next().await.is_some() {} } => {
            anyhow::bail!("all serve subscriptions ended");
        }
    }
    streams.abort_all();
    drop(wrpc);
    // Best effort: push out anything still buffered.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), nats.flush()).await;
    Ok(())
}
