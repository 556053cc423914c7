//! The provider: links from the SDK, one in-memory store per link, and the keyvalue handlers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use wasmcloud_provider_sdk::anyhow;
use wasmcloud_provider_sdk::{Context, LinkConfig, LinkDeleteInfo, Provider};
use wit_bindgen_wrpc::bytes::Bytes;

use crate::bindings::exports::wrpc::keyvalue::{atomics, batch, store};
use store::{Error, KeyResponse};

/// Keys per `list-keys` page; small on purpose so that callers must follow the cursor.
const PAGE: usize = 2;

/// `get` of this key answers the link's `NAME` config value, so a test can see which link
/// answered.
const LINK_KEY: &str = "__link";

/// Link config key whose value `get(_, "__link")` returns (matched case-insensitively, as the
/// wasmCloud providers match their config keys).
const NAME_CONFIG: &str = "NAME";

/// A link is identified by the calling component and the link name.
type LinkId = (String, String);

#[derive(Default)]
struct Link {
    /// The link's `NAME` config value.
    name: Option<String>,
    /// `(bucket, key) -> value`.
    data: HashMap<(String, String), Bytes>,
}

#[derive(Clone, Default)]
pub struct KvProvider {
    links: Arc<Mutex<HashMap<LinkId, Link>>>,
}

fn other(msg: impl Into<String>) -> Error {
    Error::Other(msg.into())
}

impl KvProvider {
    fn lock(&self) -> MutexGuard<'_, HashMap<LinkId, Link>> {
        // A handler never panics while holding the lock; if one did, the data is still usable.
        self.links.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the store of the link the invocation came through, as the wasmCloud providers
    /// pick their connection: no context → `unexpectedly missing context`; a (source-id,
    /// link-name) pair without a link → `No connection found for component [...]`.
    fn with_link<T>(
        &self,
        cx: Option<Context>,
        f: impl FnOnce(&mut Link) -> Result<T, Error>,
    ) -> anyhow::Result<Result<T, Error>> {
        let Some(cx) = cx else {
            return Ok(Err(other("unexpectedly missing context")));
        };
        // The SDK always sets `component` (to "<unknown>" without a source-id header).
        let Some(source_id) = cx.component.as_deref() else {
            return Ok(Err(other("unexpectedly missing context")));
        };
        let id = (source_id.to_string(), cx.link_name().to_string());
        let mut links = self.lock();
        let Some(link) = links.get_mut(&id) else {
            eprintln!(
                "wcprovider: no link for component `{}` link name `{}`",
                id.0, id.1
            );
            return Ok(Err(other(format!(
                "No connection found for component [{source_id}]. Please ensure the link definition is valid"
            ))));
        };
        Ok(f(link))
    }
}

impl Provider for KvProvider {
    async fn receive_link_config_as_target(&self, config: LinkConfig<'_>) -> anyhow::Result<()> {
        let name = config
            .config
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(NAME_CONFIG))
            .map(|(_, v)| v.clone());
        let id = (config.source_id.to_string(), config.link_name.to_string());
        eprintln!(
            "wcprovider: link from component `{}` link name `{}` (NAME = {:?})",
            id.0, id.1, name
        );
        // A link put again keeps its data and takes the new NAME.
        self.lock().entry(id).or_default().name = name;
        Ok(())
    }

    async fn delete_link_as_target(&self, info: impl LinkDeleteInfo) -> anyhow::Result<()> {
        let id = (
            info.get_source_id().to_string(),
            info.get_link_name().to_string(),
        );
        eprintln!(
            "wcprovider: link from component `{}` link name `{}` deleted",
            id.0, id.1
        );
        self.lock().remove(&id);
        Ok(())
    }
}

impl store::Handler<Option<Context>> for KvProvider {
    async fn get(
        &self,
        cx: Option<Context>,
        bucket: String,
        key: String,
    ) -> anyhow::Result<Result<Option<Bytes>, Error>> {
        self.with_link(cx, |link| {
            if key == LINK_KEY {
                return Ok(link.name.clone().map(Bytes::from));
            }
            Ok(link.data.get(&(bucket, key)).cloned())
        })
    }

    async fn set(
        &self,
        cx: Option<Context>,
        bucket: String,
        key: String,
        value: Bytes,
    ) -> anyhow::Result<Result<(), Error>> {
        self.with_link(cx, |link| {
            link.data.insert((bucket, key), value);
            Ok(())
        })
    }

    async fn delete(
        &self,
        cx: Option<Context>,
        bucket: String,
        key: String,
    ) -> anyhow::Result<Result<(), Error>> {
        self.with_link(cx, |link| {
            link.data.remove(&(bucket, key));
            Ok(())
        })
    }

    async fn exists(
        &self,
        cx: Option<Context>,
        bucket: String,
        key: String,
    ) -> anyhow::Result<Result<bool, Error>> {
        self.with_link(cx, |link| Ok(link.data.contains_key(&(bucket, key))))
    }

    async fn list_keys(
        &self,
        cx: Option<Context>,
        bucket: String,
        cursor: Option<u64>,
    ) -> anyhow::Result<Result<KeyResponse, Error>> {
        self.with_link(cx, |link| {
            let mut keys: Vec<String> = link
                .data
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
            Ok(KeyResponse {
                keys: keys.drain(start..end).collect(),
                cursor,
            })
        })
    }
}

impl atomics::Handler<Option<Context>> for KvProvider {
    async fn increment(
        &self,
        cx: Option<Context>,
        bucket: String,
        key: String,
        delta: u64,
    ) -> anyhow::Result<Result<u64, Error>> {
        self.with_link(cx, |link| {
            let k = (bucket, key);
            let current = match link.data.get(&k) {
                None => 0,
                Some(v) => std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| other("value is not a number"))?,
            };
            let next = current
                .checked_add(delta)
                .ok_or_else(|| other("overflow"))?;
            link.data.insert(k, Bytes::from(next.to_string()));
            Ok(next)
        })
    }
}

impl batch::Handler<Option<Context>> for KvProvider {
    /// Answers in reverse request order (for 2 or more keys), as keyvalue-nats answers in
    /// completion order: every entry carries its key, absent keys are `None` in their (reversed)
    /// place.
    async fn get_many(
        &self,
        cx: Option<Context>,
        bucket: String,
        keys: Vec<String>,
    ) -> anyhow::Result<Result<Vec<Option<(String, Bytes)>>, Error>> {
        self.with_link(cx, |link| {
            Ok(keys
                .into_iter()
                .rev()
                .map(|key| {
                    let v = link.data.get(&(bucket.clone(), key.clone())).cloned();
                    v.map(|v| (key, v))
                })
                .collect())
        })
    }

    async fn set_many(
        &self,
        cx: Option<Context>,
        bucket: String,
        key_values: Vec<(String, Bytes)>,
    ) -> anyhow::Result<Result<(), Error>> {
        self.with_link(cx, |link| {
            for (key, value) in key_values {
                link.data.insert((bucket.clone(), key), value);
            }
            Ok(())
        })
    }

    async fn delete_many(
        &self,
        cx: Option<Context>,
        bucket: String,
        keys: Vec<String>,
    ) -> anyhow::Result<Result<(), Error>> {
        self.with_link(cx, |link| {
            for key in keys {
                link.data.remove(&(bucket.clone(), key));
            }
            Ok(())
        })
    }
}
