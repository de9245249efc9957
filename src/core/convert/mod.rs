//! Format conversion between the five dialects (issue 4): one internal representation, a parser
//! and an emitter per dialect for requests, responses and streams.
