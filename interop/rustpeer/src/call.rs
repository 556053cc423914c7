//! `rustpeer call`: one JSON command per stdin line → one wRPC call with the official generated
//! client bindings → one JSON result line on stdout, in order.

use core::future::Future;
use core::str::FromStr as _;
use core::time::Duration;

use std::sync::Arc;

use anyhow::Context as _;
use async_nats::header::{HeaderName, HeaderValue};
use async_nats::HeaderMap;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

use crate::client_bindings::wrpc::keyvalue::{atomics, batch, store};
use crate::Args;

/// Upper bound for one call: invoke, handshake, params and results together.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// `get` results larger than this are reported by length and digest only.
const INLINE_LIMIT: usize = 64 * 1024;

type Client = wrpc_transport_nats::Client;

/// A malformed command line; reported as `{"bad_command": ...}`, no call is made.
struct BadCommand(String);

fn bad<T>(msg: impl Into<String>) -> Result<T, BadCommand> {
    Err(BadCommand(msg.into()))
}

fn str_field<'a>(cmd: &'a Map<String, Value>, name: &str) -> Result<&'a str, BadCommand> {
    match cmd.get(name) {
        Some(Value::String(s)) => Ok(s),
        _ => bad(format!("`{name}` must be a string")),
    }
}

fn str_list(cmd: &Map<String, Value>, name: &str) -> Result<Vec<String>, BadCommand> {
    let Some(Value::Array(items)) = cmd.get(name) else {
        return bad(format!("`{name}` must be a list of strings"));
    };
    items
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            _ => bad(format!("`{name}` must be a list of strings")),
        })
        .collect()
}

/// A u64 given as a decimal string (or, leniently, as a JSON number).
fn u64_value(v: &Value, name: &str) -> Result<u64, BadCommand> {
    match v {
        Value::String(s) => s
            .parse()
            .or_else(|_| bad(format!("`{name}` must be a u64 in decimal"))),
        Value::Number(n) => n
            .as_u64()
            .map_or_else(|| bad(format!("`{name}` must be a u64")), Ok),
        _ => bad(format!("`{name}` must be a u64 as a decimal string")),
    }
}

/// `value` (base64) or `value_repeat: {byte, count}` of an object.
fn value_field(obj: &Map<String, Value>) -> Result<Bytes, BadCommand> {
    if let Some(v) = obj.get("value") {
        let Value::String(s) = v else {
            return bad("`value` must be a base64 string");
        };
        return B64
            .decode(s)
            .map(Bytes::from)
            .or_else(|err| bad(format!("`value` is not valid base64: {err}")));
    }
    if let Some(Value::Object(rep)) = obj.get("value_repeat") {
        let byte = rep
            .get("byte")
            .and_then(Value::as_u64)
            .and_then(|b| u8::try_from(b).ok());
        let count = rep
            .get("count")
            .and_then(Value::as_u64)
            .and_then(|c| usize::try_from(c).ok());
        let (Some(byte), Some(count)) = (byte, count) else {
            return bad("`value_repeat` must be {\"byte\": 0..255, \"count\": N}");
        };
        return Ok(Bytes::from(vec![byte; count]));
    }
    bad("`value` (base64) or `value_repeat` is required")
}

fn headers_field(cmd: &Map<String, Value>) -> Result<Option<HeaderMap>, BadCommand> {
    let Some(v) = cmd.get("headers") else {
        return Ok(None);
    };
    let Value::Object(hs) = v else {
        return bad("`headers` must be an object of strings");
    };
    if hs.is_empty() {
        return Ok(None);
    }
    let mut headers = HeaderMap::new();
    for (k, v) in hs {
        let Value::String(v) = v else {
            return bad("`headers` values must be strings");
        };
        let name = HeaderName::from_str(k)
            .or_else(|err| bad(format!("invalid header name {k:?}: {err}")))?;
        let value = HeaderValue::from_str(v)
            .or_else(|err| bad(format!("invalid header value {v:?}: {err}")))?;
        headers.insert(name, value);
    }
    Ok(Some(headers))
}

fn err_json(err: store::Error) -> Value {
    match err {
        store::Error::NoSuchStore => json!({ "err": "no-such-store" }),
        store::Error::AccessDenied => json!({ "err": "access-denied" }),
        store::Error::Other(msg) => json!({ "err": { "other": msg } }),
    }
}

/// Runs one call under [`CALL_TIMEOUT`]; a transport failure becomes `Err(message)`.
async fn timed<T>(fut: impl Future<Output = anyhow::Result<T>>) -> Result<T, String> {
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(err)) => Err(format!("{err:#}")),
        Err(_) => Err(format!("call timed out after {}s", CALL_TIMEOUT.as_secs())),
    }
}

/// Turns the outcome of a call into the result line.
fn line<T>(res: Result<Result<T, store::Error>, String>, ok: impl FnOnce(T) -> Value) -> Value {
    match res {
        Ok(Ok(v)) => ok(v),
        Ok(Err(e)) => err_json(e),
        Err(msg) => json!({ "transport_error": msg }),
    }
}

fn get_line(res: Result<Result<Option<Bytes>, store::Error>, String>) -> Value {
    match res {
        Ok(Ok(Some(v))) => {
            let digest = Sha256::digest(&v);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            let some = if v.len() > INLINE_LIMIT {
                json!({ "some": null, "omitted": true })
            } else {
                json!({ "some": B64.encode(&v) })
            };
            json!({ "ok": some, "len": v.len(), "sha256": hex })
        }
        other => line(other, |_| json!({ "ok": null })),
    }
}

async fn run_command(wrpc: &Client, cmd: &Map<String, Value>) -> Result<Value, BadCommand> {
    let func = str_field(cmd, "fn")?;
    let bucket = str_field(cmd, "bucket")?;
    let cx = headers_field(cmd)?;
    let out = match func {
        "get" => {
            let key = str_field(cmd, "key")?;
            get_line(timed(store::get(wrpc, cx, bucket, key)).await)
        }
        "set" => {
            let key = str_field(cmd, "key")?;
            let value = value_field(cmd)?;
            let res = timed(store::set(wrpc, cx, bucket, key, &value)).await;
            line(res, |()| json!({ "ok": null }))
        }
        "delete" => {
            let key = str_field(cmd, "key")?;
            let res = timed(store::delete(wrpc, cx, bucket, key)).await;
            line(res, |()| json!({ "ok": null }))
        }
        "exists" => {
            let key = str_field(cmd, "key")?;
            let res = timed(store::exists(wrpc, cx, bucket, key)).await;
            line(res, |b| json!({ "ok": b }))
        }
        "list-keys" => {
            let cursor = match cmd.get("cursor") {
                None | Some(Value::Null) => None,
                Some(v) => Some(u64_value(v, "cursor")?),
            };
            let res = timed(store::list_keys(wrpc, cx, bucket, cursor)).await;
            line(
                res,
                |r| json!({ "ok": { "keys": r.keys, "cursor": r.cursor.map(|c| c.to_string()) } }),
            )
        }
        "increment" => {
            let key = str_field(cmd, "key")?;
            let delta = match cmd.get("delta") {
                Some(v) => u64_value(v, "delta")?,
                None => return bad("`delta` is required"),
            };
            let res = timed(atomics::increment(wrpc, cx, bucket, key, delta)).await;
            line(res, |n| json!({ "ok": n.to_string() }))
        }
        "get-many" => {
            let keys = str_list(cmd, "keys")?;
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let res = timed(batch::get_many(wrpc, cx, bucket, &keys)).await;
            line(res, |items| {
                let items: Vec<Value> = items
                    .into_iter()
                    .map(|item| match item {
                        Some((key, value)) => json!({ "key": key, "value": B64.encode(&value) }),
                        None => Value::Null,
                    })
                    .collect();
                json!({ "ok": items })
            })
        }
        "set-many" => {
            let Some(Value::Array(items)) = cmd.get("items") else {
                return bad("`items` must be a list of {\"key\", \"value\"}");
            };
            let mut kvs = Vec::with_capacity(items.len());
            for item in items {
                let Value::Object(item) = item else {
                    return bad("`items` must be a list of {\"key\", \"value\"}");
                };
                kvs.push((str_field(item, "key")?.to_string(), value_field(item)?));
            }
            let kvs: Vec<(&str, &Bytes)> = kvs.iter().map(|(k, v)| (k.as_str(), v)).collect();
            let res = timed(batch::set_many(wrpc, cx, bucket, &kvs)).await;
            line(res, |()| json!({ "ok": null }))
        }
        "delete-many" => {
            let keys = str_list(cmd, "keys")?;
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let res = timed(batch::delete_many(wrpc, cx, bucket, &keys)).await;
            line(res, |()| json!({ "ok": null }))
        }
        other => return bad(format!("unknown fn `{other}`")),
    };
    Ok(out)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let nats = async_nats::connect(&args.nats)
        .await
        .with_context(|| format!("failed to connect to NATS at {}", args.nats))?;
    let wrpc = Client::new(nats, Arc::from(args.prefix.as_str()), None)
        .await
        .context("failed to create the wRPC NATS client")?;

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::stdout();
    while let Some(cmd) = lines.next_line().await.context("failed to read stdin")? {
        if cmd.trim().is_empty() {
            continue;
        }
        let result = match serde_json::from_str::<Value>(&cmd) {
            Ok(Value::Object(cmd)) => match run_command(&wrpc, &cmd).await {
                Ok(v) => v,
                Err(BadCommand(msg)) => json!({ "bad_command": msg }),
            },
            Ok(_) => json!({ "bad_command": "a command must be a JSON object" }),
            Err(err) => json!({ "bad_command": format!("invalid JSON: {err}") }),
        };
        let mut buf = serde_json::to_vec(&result).context("failed to encode result")?;
        buf.push(b'\n');
        out.write_all(&buf)
            .await
            .context("failed to write stdout")?;
        out.flush().await.context("failed to write stdout")?;
    }
    Ok(())
}
