//! Raw bytes on the check port, through the real router and HTTP/1 stack (hyper over an
//! in-memory pipe): any request head, path, method or body gets an answer or a closed
//! connection, never a panic.
#![no_main]
use std::sync::OnceLock;

use clustercheckd::config::Config;
use clustercheckd::http::{check_router, AppState, Pages, Watches};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fn state() -> &'static AppState {
    static STATE: OnceLock<AppState> = OnceLock::new();
    STATE.get_or_init(|| {
        let mut config = Config::default();
        config.vip.enabled = true;
        AppState::new(config, Watches::default())
    })
}

fuzz_target!(|data: &[u8]| {
    runtime().block_on(async {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let service = TowerToHyperService::new(check_router(state().clone(), Pages::Here));
        let connection = hyper::server::conn::http1::Builder::new()
            .keep_alive(false)
            .serve_connection(TokioIo::new(server), service);
        let serving = tokio::spawn(async move {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), connection).await;
        });
        let _ = client.write_all(data).await;
        let _ = client.shutdown().await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            client.read_to_end(&mut answer),
        )
        .await;
        let _ = serving.await;
    });
});
