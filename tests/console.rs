//! The web console at /ui/ and what it shows: sign-in with the API token
//! (an HttpOnly, SameSite=Strict cookie), CSRF on every action, a strict
//! CSP, the sidecars (keystroke track, thumbnails) stored beside the MP4 and
//! served by name; and, in headless Chromium against the real binary
//! (tests/browser/console.mjs), everything an auditor does in the pages.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::server::{Server, multipart, spawn_app};
use common::{Rec, png_rgb, psnr, sample};

const TOKEN: &str = "console-test-token-0123456789";

/// An HTTP client that shows redirects instead of following them.
fn raw_agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into()
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn answer(mut r: ureq::http::Response<ureq::Body>) -> Answer {
    let headers =
        r.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
    Answer { status: r.status().as_u16(), headers, body: r.body_mut().read_to_string().unwrap_or_default() }
}

fn get(s: &Server, path: &str, cookie: Option<&str>) -> Answer {
    let mut req = raw_agent().get(s.url(path));
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    answer(req.call().unwrap())
}

fn post(
    s: &Server,
    path: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Answer {
    let mut req = raw_agent().post(s.url(path)).header("Content-Type", content_type);
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    if let Some(t) = csrf {
        req = req.header("X-CSRF-Token", t);
    }
    answer(req.send(body).unwrap())
}

/// Signs in; returns (the `Cookie` header to send, the CSRF token).
fn sign_in(s: &Server) -> (String, String) {
    let a = post(
        s,
        "/ui/login",
        None,
        None,
        "application/x-www-form-urlencoded",
        format!("token={TOKEN}").as_bytes(),
    );
    assert_eq!((a.status, a.header("location")), (303, Some("/ui/")), "{}", a.body);
    let set = a.header("set-cookie").expect("a session cookie").to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "cookie without {flag}: {set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("vw_console=") && cookie.len() > 40, "{cookie}");
    let session = get(s, "/ui/session", Some(&cookie));
    assert_eq!(session.status, 200, "{}", session.body);
    let csrf = serde_json::from_str::<serde_json::Value>(&session.body).unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_string();
    (cookie, csrf)
}

fn a_failed_task(s: &Server) -> String {
    let (status, task) =
        s.post("/api/v1/recordings?session_id=broken", "application/octet-stream", b"not a recording at all");
    assert_eq!(status, 202, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!(s.wait_finished(&id, Duration::from_secs(60))["state"], "failed");
    id
}

#[test]
fn pages_need_the_sign_in_and_actions_need_the_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let s = spawn_app(dir.path(), &[("VIDEO_WORKER_API_TOKEN", TOKEN)]);
    // No cookie: the console sends the browser to sign in; no data without it.
    let page = get(&s, "/ui/", None);
    assert_eq!((page.status, page.header("location")), (303, Some("/ui/login")));
    assert_eq!(get(&s, "/ui/session", None).status, 401);
    assert_eq!(get(&s, "/api/v1/tasks", Some("vw_console=forged")).status, 401);
    // The sign-in page and the assets are public, and forbid inline code.
    let login = get(&s, "/ui/login", None);
    assert_eq!(login.status, 200);
    let csp = login.header("content-security-policy").unwrap_or("");
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(login.header("x-content-type-options"), Some("nosniff"));
    for asset in ["app.js", "app.css", "login.js"] {
        let a = get(&s, &format!("/ui/assets/{asset}"), None);
        assert_eq!(a.status, 200, "{asset}");
        assert!(a.body.len() > 100, "{asset} is real code");
    }
    assert_eq!(get(&s, "/ui/assets/..%2fmod.rs", None).status, 404);
    // A wrong token signs nobody in.
    let wrong = post(&s, "/ui/login", None, None, "application/x-www-form-urlencoded", b"token=guess");
    assert_eq!((wrong.status, wrong.header("location")), (303, Some("/ui/login?failed")));
    assert!(wrong.header("set-cookie").is_none());
    // A sign-in posted from another site is refused.
    let mut req = raw_agent().post(s.url("/ui/login")).header("Origin", "http://evil.example");
    req = req.header("Content-Type", "application/x-www-form-urlencoded");
    assert_eq!(answer(req.send(format!("token={TOKEN}").as_bytes()).unwrap()).status, 403);

    let (cookie, csrf) = sign_in(&s);
    let index = get(&s, "/ui/", Some(&cookie));
    assert_eq!(index.status, 200);
    assert!(index.body.contains("/ui/assets/app.js") && !index.body.contains(TOKEN));
    assert_eq!(get(&s, "/api/v1/tasks", Some(&cookie)).status, 200, "the cookie stands for the token");
    let failed = a_failed_task(&s);
    let retry = format!("/api/v1/tasks/{failed}/retry");
    // Actions without the CSRF token (or with another) are refused, and change nothing.
    for token in [None, Some("0000")] {
        let a = post(&s, &retry, Some(&cookie), token, "application/json", b"");
        assert_eq!(a.status, 403, "{}", a.body);
        assert!(a.body.contains("\"csrf\""), "{}", a.body);
    }
    assert_eq!(s.get_json(&format!("/api/v1/tasks/{failed}"))["state"], "failed");
    let upload = post(&s, "/api/v1/recordings", Some(&cookie), None, "application/octet-stream", b"x");
    assert_eq!(upload.status, 403, "uploads are actions too");
    // With it, the retry goes through.
    let a = post(&s, &retry, Some(&cookie), Some(&csrf), "application/json", b"");
    assert_eq!(a.status, 200, "{}", a.body);
    // Signing out ends the session.
    assert_eq!(post(&s, "/ui/logout", Some(&cookie), None, "text/plain", b"").status, 403);
    let out = post(&s, "/ui/logout", Some(&cookie), Some(&csrf), "text/plain", b"");
    assert_eq!(out.status, 204);
    assert!(out.header("set-cookie").unwrap_or("").contains("Max-Age=0"));
    assert_eq!(get(&s, "/api/v1/tasks", Some(&cookie)).status, 401);
    assert_eq!(get(&s, "/ui/", Some(&cookie)).status, 303);
    // Nothing of it reached the log.
    assert!(!s.log().contains(TOKEN) && !s.log().contains(&csrf));
}

#[test]
fn the_overview_counts_tasks_and_reports_health() {
    let dir = tempfile::tempdir().unwrap();
    let s = spawn_app(dir.path(), &[("VIDEO_WORKER_API_TOKEN", TOKEN)]);
    a_failed_task(&s);
    let o = s.get_json("/api/v1/overview");
    assert_eq!(o["counts"]["failed"], 1, "{o}");
    assert_eq!(o["counts"]["done"], 0, "{o}");
    assert_eq!(o["failed_last_hour"], 1, "{o}");
    assert!(o["oldest_queued"].is_null(), "{o}");
    assert_eq!(o["health"]["status"], "ok", "{o}");
    assert!(o["workers"].as_u64().unwrap() >= 1);
}

#[test]
fn sidecars_are_stored_beside_the_mp4_and_served_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let stored = dir.path().join("stored");
    let stored_dir = stored.display().to_string();
    let s = spawn_app(
        &dir.path().join("data"),
        &[
            ("KEYSTROKE_TRACK", "sidecar"),
            ("LOCAL_STORAGE_DIR", &stored_dir),
            ("THUMBNAIL_INTERVAL_SECONDS", "5"),
        ],
    );
    let id = s.upload_raw(&sample(common::VNC), "sidecars");
    let task = s.wait_finished(&id, Duration::from_secs(180));
    assert_eq!(task["state"], "done", "{task}");
    let out = &task["outputs"][0];
    let sidecars = out["sidecars"].as_array().expect("sidecars");
    let kinds: Vec<&str> = sidecars.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["keystrokes", "thumbnails", "sprite"]);
    let folder = out["key"].as_str().unwrap().rsplit_once('/').unwrap().0;
    for (sidecar, mime) in sidecars.iter().zip(["text/vtt", "text/vtt", "image/jpeg"]) {
        let name = sidecar["name"].as_str().unwrap();
        assert_eq!(sidecar["key"].as_str().unwrap(), format!("{folder}/{name}"));
        let on_disk = stored.join(sidecar["key"].as_str().unwrap());
        assert_eq!(std::fs::metadata(&on_disk).unwrap().len(), sidecar["size"].as_u64().unwrap());
        let served = get(&s, &format!("/api/v1/tasks/{id}/files/{name}"), None);
        assert_eq!(served.status, 200, "{name}");
        assert!(
            served.header("content-type").unwrap_or("").starts_with(mime),
            "{name}: {:?}",
            served.header("content-type")
        );
    }
    let mp4 = out["name"].as_str().unwrap();
    let range = raw_agent()
        .get(s.url(&format!("/api/v1/tasks/{id}/files/{mp4}")))
        .header("Range", "bytes=0-99")
        .call()
        .unwrap();
    assert_eq!(range.status().as_u16(), 206);
    assert_eq!(get(&s, &format!("/api/v1/tasks/{id}/files/other.mp4"), None).status, 404);
    let keys = get(&s, &format!("/api/v1/tasks/{id}/files/{}", sidecars[0]["name"].as_str().unwrap()), None);
    assert!(keys.body.starts_with("WEBVTT") && keys.body.contains("&lt;Return&gt;"), "{}", keys.body);
}

#[test]
fn by_default_typed_text_goes_nowhere_new() {
    let dir = tempfile::tempdir().unwrap();
    let s = spawn_app(dir.path(), &[]);
    let id = s.upload_raw(&sample(common::RDP), "default");
    let task = s.wait_finished(&id, Duration::from_secs(180));
    let kinds: Vec<&str> = task["outputs"][0]["sidecars"]
        .as_array()
        .map(|a| a.iter().map(|s| s["kind"].as_str().unwrap()).collect())
        .unwrap_or_default();
    // Standalone: thumbnails on; keystrokes off unless KEYSTROKE_TRACK says so.
    assert_eq!(kinds, ["thumbnails", "sprite"], "{task}");
    let names: Vec<String> = std::fs::read_dir(dir.path().join("tasks").join(&id).join("output"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".keys.")), "{names:?}");
}

fn browser_available() -> bool {
    common::browser_tools("browser", "puppeteer-core")
}

/// A small session whose metadata and typed text are markup.
fn hostile_task(s: &Server, dir: &Path) -> String {
    let mut rec = Rec::new().size(0, 320, 200).fill(0, 0, 0, 320, 200, [90, 30, 30, 255]).sync(1000);
    let mut t = 1100;
    for c in "<img src=x onerror=window.__pwned=1>".chars() {
        rec = rec.op("key", &[&(c as u32), &1, &t]).op("key", &[&(c as u32), &0, &(t + 10)]);
        t += 30;
    }
    let rec = rec.sync(4000).write(dir, "hostile.guac");
    let metadata =
        r#"{"note":"<script>window.__pwned=1</script>","who":"<img src=x onerror=\"window.__pwned=1\">"}"#;
    let body = std::fs::read(rec).unwrap();
    let (ctype, form) = multipart(&[
        ("session_id", None, b"hostile-1"),
        ("metadata", None, metadata.as_bytes()),
        ("file", Some("<b onclick=x>bold.guac"), &body),
    ]);
    let (status, task) = s.post("/api/v1/recordings", &ctype, &form);
    assert_eq!(status, 202, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!(s.wait_finished(&id, Duration::from_secs(60))["state"], "done");
    id
}

#[test]
fn an_auditor_works_through_the_console_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        &dir.path().join("data"),
        &[
            ("VIDEO_WORKER_API_TOKEN", TOKEN),
            ("KEYSTROKE_TRACK", "sidecar"),
            ("THUMBNAIL_INTERVAL_SECONDS", "5"),
        ],
    );
    let failed = a_failed_task(&s);
    let hostile = hostile_task(&s, dir.path());
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let recording = sample(common::VNC);
    let out = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/console.mjs"))
        .args(["--url", &s.url(""), "--token", TOKEN, "--failed", &failed, "--hostile", &hostile])
        .args(["--search", "clear"])
        .arg("--sample")
        .arg(&recording)
        .arg("--out")
        .arg(&shots)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "console.mjs failed:\n{stderr}\nservice log:\n{}", s.log());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    // The frame the browser showed after the click is the recording at that moment.
    let at_ms = (report["current_time"].as_f64().unwrap() * 1000.0).round() as i64;
    assert!((at_ms - report["line_ms"].as_i64().unwrap()).abs() <= 50, "{report}");
    let (w, h, shown) = png_rgb(Path::new(report["frame"].as_str().unwrap()));
    let expected = video_worker::snapshot::snapshot_files(&[recording], at_ms).unwrap().picture;
    assert_eq!((w, h), (expected.width(), expected.height()));
    let db = psnr(&video_worker::snapshot::to_rgb(&expected), &shown);
    eprintln!("browser frame at {at_ms} ms vs snapshot: PSNR {db:.1} dB; screenshots in {}", shots.display());
    assert!(db >= 30.0, "the video shows another moment at {at_ms} ms: PSNR {db:.1} dB");
    // The retry clicked in the page happened.
    assert!(s.get(&format!("/api/v1/tasks/{failed}/log")).1.contains("queued again by an API request"));
    if std::env::var("VW_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        for name in report["screenshots"].as_array().unwrap() {
            let name = name.as_str().unwrap();
            std::fs::copy(shots.join(name), docs.join(name)).unwrap();
        }
    }
}

/// Without a token: the console and API work for a page on the worker's own
/// loopback address, and refuse a DNS-rebinding page and a cross-site page
/// (tests/browser/origins.mjs, in real Chromium).
#[test]
fn other_web_pages_cannot_reach_a_worker_without_a_token_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &[]);
    let out = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/origins.mjs"))
        .args(["--port", &s.port.to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "origins.mjs failed:\n{stderr}\nservice log:\n{}", s.log());
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["signedInAt"], "/ui/", "{r}");
    assert_eq!(r["sameHostList"]["status"], 200, "{r}");
    assert_eq!(r["sameHostUpload"]["status"], 202, "{r}");
    assert_eq!(r["ownUploadCreated"], 1, "{r}");
    assert_eq!(r["rebindLoginStatus"], 403, "{r}");
    for probe in ["rebindList", "rebindUpload"] {
        assert_eq!(r[probe]["status"], 403, "{probe}: {r}");
        assert_eq!(r[probe]["code"], "foreign_host", "{probe}: {r}");
    }
    assert!(r["crossSiteLanding"].as_str().unwrap_or("").contains("cross_origin"), "{r}");
    assert_eq!(r["createdByOthers"], 0, "{r}");
    let warned = s.log().matches("it may come from another web page").count();
    // One rebound name, one cross-site origin: each logged once, however often.
    assert_eq!(warned, 2, "refusals are logged once per source and reason:\n{}", s.log());
}
