//! `externaldata` over HTTP: the emulator fetches each URL from a loopback server, decodes its
//! body in the query's format, and answers 400 naming the URL, never its SAS token, when a
//! fetch fails or external data is disabled.

#[path = "common/hunt.rs"]
mod common;
#[path = "common/emulator.rs"]
mod emu;

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use emu::*;
use huntd::emulator::{DEMO_APP, DEMO_SECRET, DataSource, EmulatorOptions, ExternalDataOptions};
use kql::{Database, KqlType, Table, Value};
use serde_json::{Value as J, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A table like Defender's `DeviceNetworkEvents`: three connections made an hour ago.
fn network_events() -> Arc<Database> {
    let mut table = Table::new(
        "DeviceNetworkEvents",
        vec![
            ("Timestamp".to_string(), KqlType::DateTime),
            ("DeviceName".to_string(), KqlType::String),
            ("RemoteIP".to_string(), KqlType::String),
        ],
    );
    let at = Utc::now() - TimeDelta::hours(1);
    for (device, ip) in [
        ("ws1", "203.0.113.7"),
        ("ws2", "198.51.100.1"),
        ("srv1", "203.0.113.9"),
    ] {
        table
            .push(vec![
                Value::DateTime(at),
                Value::str(device),
                Value::str(ip),
            ])
            .expect("the row fits");
    }
    let mut db = Database::new();
    db.insert(table);
    Arc::new(db)
}

fn options_with(external_data: ExternalDataOptions) -> EmulatorOptions {
    EmulatorOptions {
        data: DataSource::Tables(network_events()),
        external_data,
        ..EmulatorOptions::default()
    }
}

/// Runs `query` on an emulator started with `options`: the status and the body.
async fn ask(options: EmulatorOptions, query: &str) -> (u16, J) {
    let e = start(options).await;
    let token = token(&e.base_url, DEMO_APP, DEMO_SECRET, MDE_SCOPE).await;
    let (status, _, body) = call(&e.base_url, MDE, &token, query).await;
    (status, body)
}

async fn rows(query: &str) -> Vec<J> {
    let (status, body) = ask(options_with(ExternalDataOptions::default()), query).await;
    assert_eq!(status, 200, "{query}: {body}");
    body["Results"].as_array().cloned().unwrap_or_default()
}

/// The 400's message for `query` on an emulator started with `options`.
async fn refusal(options: EmulatorOptions, query: &str) -> String {
    let (status, body) = ask(options, query).await;
    assert_eq!(status, 400, "{query}: {body}");
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn serve(server: &MockServer, at: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(response)
        .mount(server)
        .await;
}

#[tokio::test]
async fn csv_tsv_txt_and_multijson_bodies_answer_their_rows() {
    let server = MockServer::start().await;
    let csv = "Ip,Note\n203.0.113.7,\"c2, \"\"beacon\"\"\nsecond line\"\n";
    serve(
        &server,
        "/list.csv",
        ResponseTemplate::new(200).set_body_string(csv),
    )
    .await;
    serve(
        &server,
        "/list.tsv",
        ResponseTemplate::new(200).set_body_string("a b\t7\n"),
    )
    .await;
    serve(
        &server,
        "/hosts.txt",
        ResponseTemplate::new(200).set_body_string("evil.example\r\n\r\nbad.example\n"),
    )
    .await;
    let multijson = "[{\"Ip\": \"198.51.100.1\", \"Score\": 9},\n{\"Ip\": \"x\"}]";
    serve(
        &server,
        "/feed",
        ResponseTemplate::new(200).set_body_string(multijson),
    )
    .await;
    let base = server.uri();
    let cases = [
        (
            format!(
                "externaldata (Ip:string, Note:string) [@'{base}/list.csv'] \
                 with (format='csv', ignoreFirstRecord=true)"
            ),
            json!([{"Ip": "203.0.113.7", "Note": "c2, \"beacon\"\nsecond line"}]),
        ),
        (
            format!("externaldata (Name:string, N:long) ['{base}/list.tsv'] with (format='tsv')"),
            json!([{"Name": "a b", "N": 7}]),
        ),
        (
            format!("externaldata (Host:string) [h'{base}/hosts.txt']"),
            json!([{"Host": "evil.example"}, {"Host": "bad.example"}]),
        ),
        (
            format!(
                "externaldata (Ip:string, Score:long) ['{base}/feed'] with (format='multijson')"
            ),
            json!([{"Ip": "198.51.100.1", "Score": 9}, {"Ip": "x", "Score": null}]),
        ),
    ];
    for (query, want) in cases {
        assert_eq!(J::Array(rows(&query).await), want, "{query}");
    }
}

#[tokio::test]
async fn more_urls_than_fetches_at_once_are_all_read_in_the_order_written() {
    let server = MockServer::start().await;
    let mut urls = Vec::new();
    for n in 0..12 {
        let at = format!("/part{n}.txt");
        serve(
            &server,
            &at,
            ResponseTemplate::new(200).set_body_string(format!("{n}\n")),
        )
        .await;
        urls.push(format!("'{}{at}'", server.uri()));
    }
    let query = format!("externaldata (N:long) [{}]", urls.join(", "));
    let want: Vec<J> = (0..12).map(|n| json!({"N": n})).collect();
    assert_eq!(rows(&query).await, want);
}

#[tokio::test]
async fn an_ioc_list_joined_to_a_defender_table_answers_the_devices_that_reached_it() {
    let server = MockServer::start().await;
    let list = "ip,threat\n203.0.113.7,c2\n203.0.113.9,phishing\n192.0.2.1,unused\n";
    serve(
        &server,
        "/iocs.csv",
        ResponseTemplate::new(200).set_body_string(list),
    )
    .await;
    let query = format!(
        "let Iocs = externaldata (RemoteIP:string, Threat:string) [@'{}/iocs.csv'] \
         with (ignoreFirstRecord=true);\n\
         DeviceNetworkEvents | join kind=inner Iocs on RemoteIP \
         | project DeviceName, RemoteIP, Threat | order by DeviceName asc",
        server.uri()
    );
    assert_eq!(
        rows(&query).await,
        [
            json!({"DeviceName": "srv1", "RemoteIP": "203.0.113.9", "Threat": "phishing"}),
            json!({"DeviceName": "ws1", "RemoteIP": "203.0.113.7", "Threat": "c2"}),
        ]
    );
}

#[tokio::test]
async fn a_failed_fetch_is_a_400_naming_the_url_and_cause_without_its_sas_token() {
    let server = MockServer::start().await;
    serve(&server, "/missing.csv", ResponseTemplate::new(404)).await;
    let slow = ResponseTemplate::new(200)
        .set_body_string("late\n")
        .set_delay(Duration::from_secs(10));
    serve(&server, "/slow.csv", slow).await;
    serve(
        &server,
        "/big.csv",
        ResponseTemplate::new(200).set_body_string("x".repeat(4096)),
    )
    .await;
    let again = ResponseTemplate::new(302).insert_header("location", "/loop.csv?sig=SECRET");
    serve(&server, "/loop.csv", again).await;
    let limits = ExternalDataOptions {
        timeout: Duration::from_millis(300),
        max_bytes: 1024,
        ..ExternalDataOptions::default()
    };
    let base = server.uri();
    let query =
        |file: &str| format!("externaldata (x:string) [@'{base}/{file}' h@'?sv=2024&sig=SECRET']");
    for (file, cause) in [
        ("missing.csv", "the server answered 404"),
        ("slow.csv", "no whole answer within 0.3 s"),
        ("big.csv", "the body is larger than 1024 bytes"),
        ("loop.csv", "too many redirects"),
    ] {
        let message = refusal(options_with(limits.clone()), &query(file)).await;
        assert_eq!(
            message,
            format!("'externaldata' could not fetch {base}/{file}?[redacted]: {cause}")
        );
    }
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("address");
    let unreachable = format!("externaldata (x:string) ['http://{closed}/a.csv?sig=SECRET']");
    let message = refusal(options_with(limits.clone()), &unreachable).await;
    assert!(
        message.starts_with(&format!(
            "'externaldata' could not fetch http://{closed}/a.csv?[redacted]: "
        )),
        "{message}"
    );
    assert!(!message.contains("SECRET"), "{message}");
    let file = "externaldata (x:string) ['file:///etc/passwd']";
    assert_eq!(
        refusal(options_with(limits), file).await,
        "'externaldata' cannot read file:///etc/passwd: only http and https URLs are fetched"
    );
}

/// A server that answers with an endless chunked body (no length), until the client hangs up
/// or 64 MiB have gone out.
async fn endless_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).await;
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: text/csv\r\ntransfer-encoding: chunked\r\n\r\n";
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("10000\r\n{}\r\n", "y".repeat(0x10000));
        for _ in 0..1024 {
            if socket.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    format!("http://{address}/endless.csv")
}

#[tokio::test]
async fn a_body_without_a_length_is_cut_off_at_the_cap_as_it_streams_in() {
    let url = endless_server().await;
    let limits = ExternalDataOptions {
        max_bytes: 1024 * 1024,
        ..ExternalDataOptions::default()
    };
    let query = format!("externaldata (x:string) ['{url}'] | count");
    assert_eq!(
        refusal(options_with(limits), &query).await,
        format!("'externaldata' could not fetch {url}: the body is larger than 1048576 bytes")
    );
}

#[tokio::test]
async fn with_external_data_disabled_a_query_is_refused_and_nothing_is_fetched() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("a\n"))
        .expect(0)
        .mount(&server)
        .await;
    let disabled = ExternalDataOptions {
        enabled: false,
        ..ExternalDataOptions::default()
    };
    let query = format!(
        "DeviceNetworkEvents | where RemoteIP in ((externaldata (Ip:string) [@'{}/l.txt?sig=SECRET']))",
        server.uri()
    );
    assert_eq!(
        refusal(options_with(disabled.clone()), &query).await,
        format!(
            "'externaldata' cannot read {}/l.txt?[redacted]: external data is disabled in this \
             emulator (huntd emulate --no-external-data)",
            server.uri()
        )
    );
    let (status, body) = ask(options_with(disabled), "DeviceNetworkEvents | count").await;
    assert_eq!(
        (status, &body["Results"]),
        (200, &json!([{"Count": 3}])),
        "{body}"
    );
}
