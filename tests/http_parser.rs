//! The HTTP response parser on plain buffers, split at every byte.

use asyncore::http::{HttpError, Limits, Response, ResponseParser};
use proptest::prelude::*;

/// What parsing a stream came to: the responses, then the outcome of the end of the
/// stream (`Ok(true)` if a response was completed by the close).
#[derive(Debug, PartialEq)]
struct Outcome {
    responses: Vec<Response>,
    end: String,
}

/// Feeds `chunks` in order (each response answering `methods[i]`, `GET` beyond), then
/// the end of the stream. Stops at the first error.
fn parse(parser: &mut ResponseParser, chunks: &[&[u8]], methods: &[&str]) -> Outcome {
    let mut responses = Vec::new();
    let method = |n: usize| methods.get(n).copied().unwrap_or("GET");
    parser.set_request_method(method(0));
    for chunk in chunks {
        let mut data: &[u8] = chunk;
        while !data.is_empty() {
            match parser.feed(data) {
                Ok((used, r)) => {
                    assert!(used <= data.len());
                    data = &data[used..];
                    match r {
                        Some(r) => {
                            responses.push(r);
                            parser.set_request_method(method(responses.len()));
                        }
                        None => assert!(data.is_empty(), "incomplete yet bytes left"),
                    }
                }
                Err(e) => {
                    return Outcome {
                        responses,
                        end: format!("error: {e:?}"),
                    };
                }
            }
        }
    }
    let end = match parser.finish() {
        Ok(Some(r)) => {
            responses.push(r);
            "closed a response".to_string()
        }
        Ok(None) => "clean".to_string(),
        Err(e) => format!("error at close: {e:?}"),
    };
    Outcome { responses, end }
}

fn parse_with(limits: Limits, chunks: &[&[u8]], methods: &[&str]) -> Outcome {
    parse(&mut ResponseParser::with_limits(limits), chunks, methods)
}

/// Parses `wire` whole, split at every position into two, into three around every
/// pair of positions (for short inputs), and one byte at a time; all must agree.
/// Returns the outcome.
fn every_split(limits: Limits, wire: &[u8], methods: &[&str]) -> Outcome {
    let whole = parse_with(limits, &[wire], methods);
    for k in 0..=wire.len() {
        let split = parse_with(limits, &[&wire[..k], &wire[k..]], methods);
        assert_eq!(split, whole, "split at {k}");
    }
    if wire.len() <= 160 {
        for i in 0..=wire.len() {
            for j in i..=wire.len() {
                let split = parse_with(limits, &[&wire[..i], &wire[i..j], &wire[j..]], methods);
                assert_eq!(split, whole, "split at {i} and {j}");
            }
        }
    }
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(parse_with(limits, &bytes, methods), whole, "byte by byte");
    whole
}

fn ok(wire: &[u8]) -> Outcome {
    every_split(Limits::default(), wire, &[])
}

fn header<'a>(r: &'a Response, name: &str) -> &'a str {
    r.header(name).unwrap_or_else(|| panic!("no {name} header"))
}

const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
4;name=value\r\nWiki\r\n5\r\npedia\r\nE ; ext\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\nX-Trailer:  1 \r\n\r\n";

#[test]
fn content_length_body() {
    let out = ok(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Thing: a b \r\n\r\nhello");
    assert_eq!(out.end, "clean");
    let r = &out.responses[0];
    assert_eq!(
        (r.version, r.status, r.reason.as_str()),
        ((1, 1), 200, "OK")
    );
    assert_eq!(r.body, b"hello");
    assert_eq!(r.body_len, 5);
    assert_eq!(header(r, "x-thing"), "a b");
    assert!(r.keep_alive);
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    let out = ok(CHUNKED);
    assert_eq!(out.end, "clean");
    let r = &out.responses[0];
    assert_eq!(r.body, b"Wikipedia in\r\n\r\nchunks.");
    assert_eq!(r.body_len, 23);
    assert_eq!(
        r.trailers,
        [
            ("Expires".to_string(), "never".to_string()),
            ("X-Trailer".to_string(), "1".to_string())
        ]
    );
    assert!(r.keep_alive);
}

#[test]
fn chunked_wins_over_content_length_but_the_connection_is_not_reused() {
    let out = ok(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
    assert_eq!(out.responses[0].body, b"ok");
    assert!(!out.responses[0].keep_alive);
}

#[test]
fn body_until_close() {
    let out = ok(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nall of this, until the end");
    assert_eq!(out.end, "closed a response");
    let r = &out.responses[0];
    assert_eq!(r.body, b"all of this, until the end");
    assert!(!r.keep_alive);

    // A transfer coding other than chunked also runs to the close.
    let out = ok(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz");
    assert_eq!(out.responses[0].body, b"zzz");
}

#[test]
fn responses_without_a_body() {
    for wire in [
        &b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"[..],
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
    ] {
        let out = ok(wire);
        assert_eq!(out.end, "clean", "{}", String::from_utf8_lossy(wire));
        assert!(out.responses[0].body.is_empty());
        assert!(out.responses[0].keep_alive);
    }
    // HEAD: the length is announced but no body follows; the next response follows.
    let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let out = every_split(Limits::default(), wire, &["HEAD", "GET"]);
    assert_eq!(out.responses.len(), 2);
    assert!(out.responses[0].body.is_empty());
    assert_eq!(header(&out.responses[0], "content-length"), "10");
    assert_eq!(out.responses[1].body, b"ok");
}

#[test]
fn interim_responses_are_skipped() {
    let out = ok(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(out.responses.len(), 1);
    let r = &out.responses[0];
    assert_eq!(r.status, 201);
    assert!(r.headers.iter().all(|(n, _)| n != "Link"));
}

#[test]
fn http_1_0_and_connection_tokens_decide_keep_alive() {
    let out = ok(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx");
    assert_eq!(out.responses[0].version, (1, 0));
    assert!(!out.responses[0].keep_alive);
    let out = ok(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx");
    assert!(out.responses[0].keep_alive);
    let out = ok(b"HTTP/1.1 200 OK\r\nConnection: foo, close\r\nContent-Length: 1\r\n\r\nx");
    assert!(!out.responses[0].keep_alive);
}

#[test]
fn bare_line_feeds_and_blank_lines_before_the_status_are_accepted() {
    let out = ok(b"\r\n\nHTTP/1.1 200\nContent-Length: 2\n\nhi");
    let r = &out.responses[0];
    assert_eq!(
        (r.status, r.reason.as_str(), r.body.as_slice()),
        (200, "", &b"hi"[..])
    );
}

#[test]
fn pipelined_responses_come_out_one_by_one() {
    let mut wire = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none".to_vec();
    wire.extend_from_slice(CHUNKED);
    wire.extend_from_slice(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    wire.extend_from_slice(b"HTTP/1.0 200 OK\r\n\r\nrest");
    let out = every_split(Limits::default(), &wire, &[]);
    let statuses: Vec<u16> = out.responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 404, 200]);
    assert_eq!(out.responses[3].body, b"rest");
    assert_eq!(out.end, "closed a response");
}

#[test]
fn bodies_can_be_counted_without_being_kept() {
    let mut parser = ResponseParser::new();
    parser.set_keep_body(false);
    let out = parse(&mut parser, &[CHUNKED], &[]);
    assert!(out.responses[0].body.is_empty());
    assert_eq!(out.responses[0].body_len, 23);
    assert!(!parser.keeps_body());
}

// ---------------------------------------------------------------------------------
// Malformed responses: the same typed error at every split.

fn err(limits: Limits, wire: &[u8]) -> String {
    let out = every_split(limits, wire, &[]);
    assert!(out.end.starts_with("error"), "{out:?}");
    out.end
}

fn bad(wire: &[u8]) -> String {
    err(Limits::default(), wire)
}

#[test]
fn malformed_status_lines() {
    for wire in [
        &b"HTTX/1.1 200 OK\r\n\r\n"[..],
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 099 Low\r\n\r\n",
        b"HTTP/2.0 200 OK\r\n\r\n",
        b"HTTP/1.1200 OK\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n",
    ] {
        assert!(
            bad(wire).contains("BadStatusLine"),
            "{}",
            String::from_utf8_lossy(wire)
        );
    }
}

#[test]
fn malformed_header_lines() {
    for wire in [
        &b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nA: 1\r\n folded: continuation\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nSpace before : colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n: no name\r\n\r\n",
    ] {
        assert!(
            bad(wire).contains("BadHeader"),
            "{}",
            String::from_utf8_lossy(wire)
        );
    }
}

#[test]
fn invalid_content_lengths() {
    for wire in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
    ] {
        assert!(
            bad(wire).contains("BadContentLength"),
            "{}",
            String::from_utf8_lossy(wire)
        );
    }
    // The same length repeated is fine.
    let out = ok(b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(out.responses[0].body, b"ok");
}

#[test]
fn malformed_chunks() {
    let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for body in [
        "zz\r\n",
        "\r\n",
        "-1\r\n",
        "12345678901234567\r\n",
        "4 x\r\n",
    ] {
        let wire = format!("{head}{body}");
        assert!(bad(wire.as_bytes()).contains("BadChunkSize"), "{body:?}");
    }
    let wire = format!("{head}3\r\nabcX\r\n0\r\n\r\n");
    assert!(bad(wire.as_bytes()).contains("BadChunkEnd"));
    let wire = format!("{head}3\r\nabc\rX0\r\n\r\n");
    assert!(bad(wire.as_bytes()).contains("BadChunkEnd"));
    let long = format!("{head}1;{}\r\n", "x".repeat(2000));
    assert!(bad(long.as_bytes()).contains("BadChunkSize"));
}

#[test]
fn limits_are_enforced() {
    let small = Limits {
        max_head: 64,
        max_headers: 2,
        max_body: 4,
    };
    let long_header = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "v".repeat(100));
    assert!(err(small, long_header.as_bytes()).contains("HeadTooLarge"));
    // Without a line end in sight too: the parser does not wait for one.
    let endless = format!("HTTP/1.1 200 OK\r\nX: {}", "v".repeat(100));
    assert!(err(small, endless.as_bytes()).contains("HeadTooLarge"));
    assert!(
        err(small, b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n").contains("TooManyHeaders")
    );
    assert!(
        err(small, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").contains("BodyTooLarge")
    );
    assert!(err(small, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n").contains("BodyTooLarge"));
    assert!(err(small, b"HTTP/1.1 200 OK\r\n\r\nuntil the close").contains("BodyTooLarge"));
    let trailers = format!(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: {}\r\n\r\n",
        "t".repeat(100)
    );
    assert!(err(small, trailers.as_bytes()).contains("HeadTooLarge"));
    // Within the limits, all is well.
    let out = every_split(small, b"HTTP/1.1 200 OK\r\nA: 1\r\n\r\n", &[]);
    assert_eq!(out.end, "closed a response");
}

#[test]
fn a_close_inside_a_response_is_an_error() {
    let out = ok(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfour");
    assert_eq!(
        out.end,
        format!(
            "error at close: {:?}",
            HttpError::IncompleteBody {
                expected: 10,
                received: 4
            }
        )
    );
    let out = ok(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
    assert!(out.end.contains("IncompleteChunked"), "{out:?}");
    let out = ok(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\r\n");
    assert!(out.end.contains("IncompleteChunked"), "{out:?}");
    let out = ok(b"HTTP/1.1 200 OK\r\nContent-");
    assert!(out.end.contains("IncompleteHead"), "{out:?}");
    let out = ok(b"");
    assert_eq!(
        out,
        Outcome {
            responses: vec![],
            end: "clean".into()
        }
    );
}

#[test]
fn the_parser_starts_afresh_after_an_error_and_after_reset() {
    let mut parser = ResponseParser::new();
    assert!(parser.feed(b"garbage\r\n").is_err());
    assert!(!parser.is_started());
    let (_, r) = parser
        .feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    assert_eq!(r.unwrap().status, 200);

    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap();
    assert!(parser.is_started());
    parser.reset();
    assert!(!parser.is_started());
    assert_eq!(parser.finish().unwrap(), None);
}

proptest! {
    /// Any split of a pipelined stream into many pieces gives the same responses.
    #[test]
    fn random_splits_agree(cuts in proptest::collection::vec(0usize..400, 0..40)) {
        let mut wire = CHUNKED.to_vec();
        wire.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world");
        wire.extend_from_slice(CHUNKED);
        wire.extend_from_slice(b"HTTP/1.0 500 Oops\r\n\r\nuntil close");
        let whole = parse_with(Limits::default(), &[&wire], &[]);
        prop_assert_eq!(whole.responses.len(), 4);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (wire.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut at = 0;
        for c in cuts {
            chunks.push(&wire[at..c]);
            at = c;
        }
        chunks.push(&wire[at..]);
        prop_assert_eq!(parse_with(Limits::default(), &chunks, &[]), whole);
    }
}
