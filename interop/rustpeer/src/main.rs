//! rustpeer: a wRPC `wrpc:keyvalue@0.2.0-draft` test peer built on the official Rust crates
//! (`wit-bindgen-wrpc` + `wrpc-transport-nats`), so that the Go implementation can be checked
//! against them in both directions.
//!
//! `rustpeer serve --nats <url> --prefix <prefix>` serves store, atomics and batch from memory.
//! `rustpeer call --nats <url> --prefix <prefix>` turns JSON lines on stdin into calls.
//! See README.md for the exact command and result shapes.

mod call;
mod serve;

use std::process::ExitCode;

mod server_bindings {
    wit_bindgen_wrpc::generate!({ world: "server" });
}

mod client_bindings {
    wit_bindgen_wrpc::generate!({ world: "imports" });
}

const USAGE: &str = "usage: rustpeer serve --nats <url> --prefix <prefix>\n       rustpeer call  --nats <url> --prefix <prefix>";

pub struct Args {
    pub nats: String,
    pub prefix: String,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut nats = None;
    let mut prefix = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let slot = match name {
            "--nats" => &mut nats,
            "--prefix" => &mut prefix,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        };
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| format!("`{name}` needs a value"))?,
        };
        *slot = Some(value);
    }
    Ok(Args {
        nats: nats.ok_or("missing --nats <url>")?,
        prefix: prefix.ok_or("missing --prefix <prefix>")?,
    })
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = argv.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let args = match parse_args(rest) {
        Ok(args) => args,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("rustpeer: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("rustpeer: failed to start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let res = match cmd.as_str() {
        "serve" => rt.block_on(serve::run(args)),
        "call" => rt.block_on(call::run(args)),
        other => {
            eprintln!("rustpeer: unknown command `{other}`\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Don't wait for tasks still parked on the connection or on a blocking stdin read: serve has
    // flushed NATS already and call has written every result line.
    rt.shutdown_background();
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rustpeer: {err:#}");
            ExitCode::FAILURE
        }
    }
}
