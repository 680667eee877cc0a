//! The streamed queue scan: a listing cut into chunks at arbitrary places must give the same
//! counts as the whole body, or the same error; caps stop it; nothing panics.
#![no_main]
use clustercheckd::collectors::rabbitmq::queues::{Rules, Scan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let rules = Rules {
        ha_policies: vec![("/".into(), "ha-all".into())],
        mirroring_supported: cut % 2 == 0,
    };
    let whole = {
        let mut scan = Scan::new(&rules, 1000, 1 << 20);
        scan.feed(body).and_then(|()| scan.finish())
    };
    let chunk = usize::from(cut).max(1);
    let mut scan = Scan::new(&rules, 1000, 1 << 20);
    let mut pieces = Ok(());
    for piece in body.chunks(chunk) {
        pieces = scan.feed(piece);
        if pieces.is_err() {
            break;
        }
    }
    let cut_result = pieces.and_then(|()| scan.finish());
    match (whole, cut_result) {
        (Ok(mut a), Ok(b)) => {
            a.bytes = b.bytes;
            assert_eq!(a, b, "counts depend on where the body was cut");
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!("whole {a:?} vs cut {b:?}"),
    }
});
