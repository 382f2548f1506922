//! An HTTP/1.1 client on the loop, in the manner of asycamore's `HTTPClientSocket`:
//! [`HttpClient`] sends a sequence of requests to one origin over keep-alive
//! connections, and [`ResponseParser`] (a plain type with no socket) parses the
//! responses.
//!
//! Many clients in one map fetch concurrently; `examples/http_get_many.rs` fetches a
//! list of paths over N connections at once.
//!
//! | asycamore | here |
//! |---|---|
//! | `httpclientsocket.HTTPClientSocket` | [`HttpClient`] (a [`Dispatcher`](crate::Dispatcher)) |
//! | a generator of requests for one origin | any `Iterator<Item = `[`Request`]`>` |
//! | the document callback | `on_response(request, Result<`[`Response`]`, `[`HttpError`]`>)` |
//! | `httpclient.start_multiple_clients` | several `HttpClient`s sharing one request source |

mod client;
mod error;
mod request;
mod response;

pub use client::HttpClient;
pub use error::HttpError;
pub use request::Request;
pub use response::{Limits, Response, ResponseParser};
