//! The storage-server helpers of tests/common work: moto and Azurite start
//! and answer signed requests, and the fault proxy cuts and restores
//! connections. Each test passes without running when its server is not
//! installed, unless VW_REQUIRE_STORAGE_SERVERS=1.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::storage_servers::{AzureServer, FaultProxy, S3Server};

#[test]
fn moto_stores_lists_and_counts_multipart_uploads() {
    let Some(s3) = S3Server::start("rec") else { return };
    assert!(s3.objects().is_empty());

    s3.put("2026-11-22/a b&c.mp4", b"hello");
    s3.put("z.mp4", &vec![7; 3 << 20]);
    assert_eq!(s3.objects(), [("2026-11-22/a b&c.mp4".to_string(), 5), ("z.mp4".to_string(), 3 << 20)]);
    assert_eq!(s3.get("2026-11-22/a b&c.mp4"), b"hello");
    assert_eq!(s3.get("z.mp4").len(), 3 << 20);

    assert_eq!(s3.multipart_uploads_in_progress(), 0);
    let (status, body) = s3.request("POST", Some("big.mp4"), &[("uploads", "")], b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(s3.multipart_uploads_in_progress(), 1);
}

#[test]
fn azurite_lists_the_empty_container_then_a_blob() {
    let Some(az) = AzureServer::start("rec") else { return };
    assert!(az.endpoint.ends_with("/devstoreaccount1"), "{}", az.endpoint);
    assert!(az.objects().is_empty());

    az.put("2026-11-22/a.mp4", b"hello azure");
    assert_eq!(az.objects(), [("2026-11-22/a.mp4".to_string(), 11)]);
    assert_eq!(az.get("2026-11-22/a.mp4"), b"hello azure");
}

/// An unsigned bucket listing through the proxy (moto allows it).
fn list_via(proxy: &FaultProxy, bucket: &str) -> Result<u16, ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    Ok(agent.get(format!("http://{}/{bucket}?list-type=2", proxy.addr)).call()?.status().as_u16())
}

/// Whether the peer closed `conn` (EOF or reset) within a few seconds.
fn closed(conn: &mut TcpStream) -> bool {
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    match conn.read(&mut [0; 1024]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

#[test]
fn fault_proxy_cuts_open_connections_and_refuses_until_restored() {
    let Some(s3) = S3Server::start("rec") else { return };
    let proxy = FaultProxy::start(s3.addr());
    assert_eq!(list_via(&proxy, "rec").unwrap(), 200);
    assert!(proxy.bytes_forwarded() > 0);

    // A request half sent when the cut comes.
    let mut open = TcpStream::connect(&proxy.addr).unwrap();
    open.write_all(b"PUT /rec/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    proxy.cut();
    assert!(closed(&mut open), "an open connection survived the cut");

    assert!(list_via(&proxy, "rec").is_err(), "a new request went through while cut");
    let mut late = TcpStream::connect(&proxy.addr).unwrap();
    assert!(closed(&mut late), "a new connection stayed open while cut");

    proxy.restore();
    assert_eq!(list_via(&proxy, "rec").unwrap(), 200);
    assert!(s3.objects().is_empty(), "the cut request must not have stored anything");
}

#[test]
fn fault_proxy_cuts_an_upload_after_n_bytes() {
    let Some(s3) = S3Server::start("rec") else { return };
    let proxy = FaultProxy::start(s3.addr());
    let before = proxy.bytes_forwarded();
    proxy.cut_after(100_000);

    let body = vec![1u8; 1 << 20];
    let put = ureq::put(format!("http://{}/rec/big.mp4", proxy.addr))
        .header("Content-Type", "application/octet-stream")
        .send(&body[..]);
    assert!(put.is_err(), "the upload finished despite the cut: {put:?}");
    assert_eq!(proxy.bytes_forwarded() - before, 100_000);
    assert!(list_via(&proxy, "rec").is_err(), "the automatic cut must last until restore()");

    proxy.restore();
    assert_eq!(list_via(&proxy, "rec").unwrap(), 200);
    assert!(s3.objects().is_empty());
}
