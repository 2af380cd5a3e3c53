//! Schemas with external `$ref`s are never fetched (network or file).

use super::*;

// ---------------------------------------------------------------------------------------------
// Schemas with external `$ref`s are never fetched
// ---------------------------------------------------------------------------------------------

static HTTP_REF: OnceLock<String> = OnceLock::new();
static FILE_REF: OnceLock<String> = OnceLock::new();

/// A string whose (hand-written) schema is `{"$ref": "http://127.0.0.1:<port>/schema.json"}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct HttpRef(String);

impl JsonSchema for HttpRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HttpRef".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "$ref": HTTP_REF.get().expect("set by the test") })
    }
}

/// A string whose schema is `{"$ref": "file:///<tmp>/schema.json"}`; the file holds `false`
/// (rejects everything), so a fetch would show up as a validation error.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct FileRef(String);

impl JsonSchema for FileRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FileRef".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "properties": { "v": { "$ref": FILE_REF.get().expect("set by the test") } }
        })
    }
}

#[derive(Store)]
struct Refs {
    http: Item<HttpRef>,
    file: Item<FileRef>,
}

#[test]
fn external_refs_are_never_fetched() {
    // A listener that records any connection (the "remote" schema server).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    HTTP_REF
        .set(format!("http://127.0.0.1:{port}/schema.json"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema.json");
    std::fs::write(&path, "false").unwrap();
    FILE_REF.set(format!("file://{}", path.display())).unwrap();
    let contacted = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (contacted, stop) = (contacted.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if listener.accept().is_ok() {
                    contacted.store(true, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let results = rt.block_on(async {
        let backend = MemoryBackend::new();
        let refs = Refs::open_with_prefix(backend.clone(), "refs");
        let mut results = Vec::new();
        results.push(format!("{:?}", refs.http().set(&HttpRef("x".into())).await));
        results.push(format!("{:?}", refs.file().set(&FileRef("x".into())).await));
        // Reads of values written behind the store's back go through the schema too.
        backend
            .set(refs.http().key(), b"\"x\"", Default::default())
            .await
            .unwrap();
        backend
            .set(refs.file().key(), br#"{"v":1}"#, Default::default())
            .await
            .unwrap();
        let http_get = refs.http().get().await;
        let file_get = refs.file().get().await;
        for r in [&http_get.as_ref().map(drop), &file_get.as_ref().map(drop)] {
            // Typed, and not a validation against a fetched schema.
            assert!(
                matches!(r, Ok(()) | Err(Error::Encode { .. } | Error::Decode { .. })),
                "{r:?}"
            );
        }
        results.push(format!("{http_get:?}"));
        results.push(format!("{file_get:?}"));
        results
    });
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    eprintln!("$ref results in {elapsed:?}: {results:#?}");
    assert!(
        !contacted.load(Ordering::Relaxed),
        "the http:// $ref was fetched"
    );
    for r in &results {
        assert!(
            !r.contains("Validation"),
            "a $ref target was fetched and applied: {r}"
        );
    }
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}
