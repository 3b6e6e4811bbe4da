//! The query handler: bytes in, bytes out. Parsing, validation, routing (zones, hosts file,
//! recursion), response size limits and truncation. No sockets here: the UDP and TCP drivers
//! call it, and tests call it directly.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use tracing::{debug, warn};

use super::acl::Acl;
use super::answers::{AnswerCache, RawQuestion, RecentAnswers};
use crate::zone::hosts::HostsFile;
use crate::zone::Zone;

/// The EDNS UDP payload size we advertise and never exceed (DNS Flag Day 2020).
pub const EDNS_PAYLOAD: u16 = 1232;
/// Classic DNS UDP limit without EDNS (RFC 1035 §4.2.1).
pub const PLAIN_UDP_LIMIT: usize = 512;
/// Records per AXFR message (keeps each message well under 64 KiB).
const AXFR_RECORDS_PER_MESSAGE: usize = 100;

/// How the query arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: answers are limited by the client's EDNS payload size, truncated with TC=1.
    Udp,
    /// TCP (RFC 7766): answers up to 64 KiB; AXFR allowed.
    Tcp,
}

/// An answer from the recursive side (recursor or forwarder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// NOERROR or NXDOMAIN.
    pub rcode: ResponseCode,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section (SOA of negative answers).
    pub authorities: Vec<Record>,
}

/// Boxed future of a resolution.
pub type ResolveFuture<'a> = Pin<Box<dyn Future<Output = Result<Answer, String>> + Send + 'a>>;

/// The recursive side, as the handler sees it: a cache it can consult without waiting, and a
/// resolution it awaits outside the UDP receive loop.
pub trait Resolve: Send + Sync + 'static {
    /// An answer from cache, if there is one.
    fn cached(&self, name: &Name, rtype: RecordType) -> Option<Answer>;
    /// Resolve (upstream). The error says why; the client gets SERVFAIL.
    fn resolve<'a>(&'a self, name: &'a Name, rtype: RecordType) -> ResolveFuture<'a>;
}

/// The zones being served, longest origin first so the most specific zone wins.
#[derive(Debug, Default)]
pub struct Catalog {
    zones: Vec<Arc<Zone>>,
    answers: AnswerCache,
    /// Encoded answers from the resolver's cache: kept with the zones, so that a reload that
    /// adds a zone never lets an answer from recursion shadow it.
    recent: RecentAnswers,
}

impl Catalog {
    /// A catalog of `zones` (a later zone with the same origin replaces an earlier one).
    pub fn new(zones: Vec<Zone>) -> Self {
        let mut zones: Vec<Arc<Zone>> = zones.into_iter().map(Arc::new).collect();
        zones.sort_by_key(|z| std::cmp::Reverse(crate::zone::label_count(z.origin())));
        zones.dedup_by(|a, b| a.origin() == b.origin());
        Catalog {
            zones,
            answers: AnswerCache::default(),
            recent: RecentAnswers::default(),
        }
    }

    /// The most specific zone containing `name`.
    pub fn find(&self, name: &Name) -> Option<&Arc<Zone>> {
        self.zones.iter().find(|z| z.contains_name(name))
    }

    /// The zones.
    pub fn zones(&self) -> &[Arc<Zone>] {
        &self.zones
    }

    /// Encoded answers reused for repeated questions.
    pub fn answer_cache(&self) -> &AnswerCache {
        &self.answers
    }

    /// Encoded answers from the resolver's cache, reused for up to a second.
    pub fn recent_answers(&self) -> &RecentAnswers {
        &self.recent
    }
}

/// What to do with a datagram or TCP message.
#[derive(Debug)]
pub enum Outcome {
    /// Say nothing (not a query, or too broken to answer).
    Drop,
    /// One response.
    Reply(Vec<u8>),
    /// Several responses (AXFR over TCP).
    Stream(Vec<Vec<u8>>),
    /// Needs the recursive side: run [`QueryHandler::resolve`] off the receive loop.
    Resolve(Box<Pending>),
}

/// A parsed query waiting for recursion.
#[derive(Debug)]
pub struct Pending {
    request: Message,
    limit: usize,
}

/// Everything the server answers from. Shared by every UDP socket and TCP connection.
pub struct QueryHandler {
    catalog: RwLock<Arc<Catalog>>,
    hosts: Option<HostsFile>,
    recursion: Option<Arc<dyn Resolve>>,
    allow_recursion: Acl,
    allow_transfer: Acl,
}

impl std::fmt::Debug for QueryHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryHandler")
            .field("zones", &self.catalog().zones().len())
            .field("hosts", &self.hosts.as_ref().map(HostsFile::len))
            .field("recursion", &self.recursion.is_some())
            .finish()
    }
}

impl QueryHandler {
    /// A handler for these zones; no hosts file, no recursion, no transfers.
    pub fn new(catalog: Catalog) -> Self {
        QueryHandler {
            catalog: RwLock::new(Arc::new(catalog)),
            hosts: None,
            recursion: None,
            allow_recursion: Acl::local_networks(),
            allow_transfer: Acl::default(),
        }
    }

    /// Answer names from a hosts file.
    pub fn with_hosts(mut self, hosts: HostsFile) -> Self {
        self.hosts = Some(hosts);
        self
    }

    /// Recurse (or forward) for clients in `allowed`.
    pub fn with_recursion(mut self, recursion: Arc<dyn Resolve>, allowed: Acl) -> Self {
        self.recursion = Some(recursion);
        self.allow_recursion = allowed;
        self
    }

    /// Allow AXFR to `allowed`.
    pub fn with_transfers(mut self, allowed: Acl) -> Self {
        self.allow_transfer = allowed;
        self
    }

    /// The zones in force.
    pub fn catalog(&self) -> Arc<Catalog> {
        match self.catalog.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Swap in reloaded zones (SIGHUP); queries in flight finish with the old ones.
    pub fn replace_catalog(&self, catalog: Catalog) {
        let catalog = Arc::new(catalog);
        match self.catalog.write() {
            Ok(mut c) => *c = catalog,
            Err(p) => *p.into_inner() = catalog,
        }
    }

    /// Handle one message; then, if it needs recursion, resolve it.
    pub async fn handle(&self, bytes: &[u8], client: IpAddr, transport: Transport) -> Outcome {
        match self.handle_fast(bytes, client, transport) {
            Outcome::Resolve(pending) => match self.resolve(pending).await {
                Some(reply) => Outcome::Reply(reply),
                None => Outcome::Drop,
            },
            other => other,
        }
    }

    /// Everything that can be answered without waiting: parse errors, zones, hosts, cache.
    pub fn handle_fast(&self, bytes: &[u8], client: IpAddr, transport: Transport) -> Outcome {
        self.handle_reusing(bytes, client, transport, Vec::new())
    }

    /// [`handle_fast`](Self::handle_fast), writing a reply from the encoded-answer caches into
    /// `buffer` (returned as the reply): a receive loop that passes the previous reply's
    /// buffer back in answers repeated questions without allocating. A plain question (see
    /// [`RawQuestion`]) whose answer is cached is answered without decoding the query.
    pub fn handle_reusing(
        &self,
        bytes: &[u8],
        client: IpAddr,
        transport: Transport,
        mut buffer: Vec<u8>,
    ) -> Outcome {
        let mut question = RawQuestion::parse(bytes, transport == Transport::Udp, EDNS_PAYLOAD);
        let recursion_ok = self.recursion.is_some() && self.allow_recursion.allows(client);
        let catalog = self.catalog();
        if let Some(question) = &mut question {
            question.set_recursion_available(recursion_ok);
            if catalog.answers.answer_into(question, bytes, &mut buffer)
                || (recursion_ok
                    && question.recursion_desired
                    && catalog.recent.answer_into(question, bytes, &mut buffer))
            {
                return Outcome::Reply(buffer);
            }
        }
        self.handle_decoded(bytes, client, transport, question, &catalog, recursion_ok)
    }

    /// The full way: decode the query, answer it, and remember the encoded answer under
    /// `question` where it can be reused.
    fn handle_decoded(
        &self,
        bytes: &[u8],
        client: IpAddr,
        transport: Transport,
        question: Option<RawQuestion>,
        catalog: &Catalog,
        recursion_ok: bool,
    ) -> Outcome {
        // Read the header alone first: hickory's full decode reserves room for QDCOUNT
        // questions up front, so a 12-byte packet claiming 65535 of them must stop here.
        let mut decoder = BinDecoder::new(bytes);
        let Ok(header) = Header::read(&mut decoder) else {
            return Outcome::Drop; // shorter than a header: nothing to answer to
        };
        if header.metadata.message_type == MessageType::Response {
            return Outcome::Drop; // never answer a response (reflection loops)
        }
        let id = header.metadata.id;
        let counts = header.counts;
        if counts.queries != 1
            || counts.answers != 0
            || counts.authorities != 0
            || counts.additionals > 2
        {
            return reply_error(id, header.metadata.op_code, ResponseCode::FormErr, None);
        }
        if header.metadata.op_code != OpCode::Query {
            return reply_error(id, header.metadata.op_code, ResponseCode::NotImp, None);
        }
        let request = match Message::from_vec(bytes) {
            Ok(m) => m,
            Err(e) => {
                debug!(%client, "FORMERR: {e}");
                return reply_error(id, OpCode::Query, ResponseCode::FormErr, None);
            }
        };
        if let Some(edns) = &request.edns {
            if edns.version() > 0 {
                // RFC 6891 §6.1.3: we speak EDNS version 0 only.
                let mut m = self.response(&request, ResponseCode::BADVERS);
                m.queries.clear();
                return Outcome::Reply(encode_limited(&m, PLAIN_UDP_LIMIT));
            }
        }
        let limit = match transport {
            Transport::Tcp => usize::from(u16::MAX),
            Transport::Udp => match &request.edns {
                Some(edns) => usize::from(edns.max_payload().clamp(512, EDNS_PAYLOAD)),
                None => PLAIN_UDP_LIMIT,
            },
        };
        let Some(query) = request.queries.first().cloned() else {
            return reply_error(id, OpCode::Query, ResponseCode::FormErr, None);
        };
        if query.query_class != DNSClass::IN {
            return self.reply(&request, ResponseCode::Refused, limit, |_| {});
        }
        match query.query_type {
            RecordType::AXFR => return self.transfer(&request, &query, client, transport, limit),
            RecordType::IXFR => return self.reply(&request, ResponseCode::NotImp, limit, |_| {}),
            _ => {}
        }
        if let Some(zone) = catalog.find(&query.name) {
            let answer = zone.lookup(&query.name, query.query_type);
            let reply = self.reply(&request, answer.rcode, limit, |m| {
                m.metadata.authoritative = answer.authoritative;
                m.metadata.recursion_available = recursion_ok;
                m.answers = answer.answers;
                m.authorities = answer.authorities;
                m.additionals = answer.additionals;
            });
            if let (Outcome::Reply(encoded), Some(question)) = (&reply, &question) {
                catalog.answers.insert(question, encoded);
            }
            return reply;
        }
        if let Some(records) = self
            .hosts
            .as_ref()
            .and_then(|h| h.lookup(&query.name, query.query_type))
        {
            return self.reply(&request, ResponseCode::NoError, limit, |m| {
                m.metadata.authoritative = true;
                m.metadata.recursion_available = recursion_ok;
                m.answers = records;
            });
        }
        match &self.recursion {
            // RFC 1034 §4.3.1: recursion only when asked for (RD) and offered to this client.
            Some(recursion) if recursion_ok && request.metadata.recursion_desired => {
                match recursion.cached(&query.name, query.query_type) {
                    Some(answer) => {
                        // Only answers that stay valid for the reuse window are reused.
                        let lasting = answer
                            .answers
                            .iter()
                            .chain(&answer.authorities)
                            .all(|r| r.ttl > 1);
                        let reply = self.reply_answer(&request, answer, limit);
                        if let (Outcome::Reply(encoded), Some(question), true) =
                            (&reply, &question, lasting)
                        {
                            catalog.recent.insert(question, encoded);
                        }
                        reply
                    }
                    None => Outcome::Resolve(Box::new(Pending { request, limit })),
                }
            }
            // RFC 8914: say why, as NSD (20) and Unbound (18) do — recursion not offered to
            // this client is "Prohibited"; otherwise the name is simply not ours.
            _ => self.reply(&request, ResponseCode::Refused, limit, |m| {
                m.metadata.recursion_available = recursion_ok;
                let client_barred = self.recursion.is_some() && !recursion_ok;
                extended_error(
                    m,
                    if client_barred {
                        EDE_PROHIBITED
                    } else {
                        EDE_NOT_AUTHORITATIVE
                    },
                );
            }),
        }
    }

    /// Finish a query that needed recursion.
    pub async fn resolve(&self, pending: Box<Pending>) -> Option<Vec<u8>> {
        let Pending { request, limit } = *pending;
        let query = request.queries.first()?.clone();
        let recursion = self.recursion.as_ref()?;
        match recursion.resolve(&query.name, query.query_type).await {
            Ok(answer) => match self.reply_answer(&request, answer, limit) {
                Outcome::Reply(bytes) => Some(bytes),
                _ => None,
            },
            Err(why) => {
                warn!("SERVFAIL for {} {}: {why}", query.name, query.query_type);
                match self.reply(&request, ResponseCode::ServFail, limit, |m| {
                    m.metadata.recursion_available = true;
                }) {
                    Outcome::Reply(bytes) => Some(bytes),
                    _ => None,
                }
            }
        }
    }

    fn reply_answer(&self, request: &Message, answer: Answer, limit: usize) -> Outcome {
        self.reply(request, answer.rcode, limit, |m| {
            m.metadata.recursion_available = true;
            m.answers = answer.answers;
            m.authorities = answer.authorities;
        })
    }

    /// A response skeleton: same ID, RD and CD copied, the question echoed, EDNS if asked.
    fn response(&self, request: &Message, rcode: ResponseCode) -> Message {
        let mut m = Message::response(request.metadata.id, OpCode::Query);
        m.metadata.recursion_desired = request.metadata.recursion_desired;
        m.metadata.checking_disabled = request.metadata.checking_disabled;
        m.metadata.response_code = rcode;
        m.queries = request.queries.clone();
        if request.edns.is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(EDNS_PAYLOAD);
            m.edns = Some(edns);
        }
        m
    }

    fn reply(
        &self,
        request: &Message,
        rcode: ResponseCode,
        limit: usize,
        fill: impl FnOnce(&mut Message),
    ) -> Outcome {
        let mut m = self.response(request, rcode);
        fill(&mut m);
        Outcome::Reply(encode_limited(&m, limit))
    }

    /// AXFR (RFC 5936): TCP only, to `--allow-transfer` clients, for a zone apex we serve.
    fn transfer(
        &self,
        request: &Message,
        query: &Query,
        client: IpAddr,
        transport: Transport,
        limit: usize,
    ) -> Outcome {
        if transport != Transport::Tcp || !self.allow_transfer.allows(client) {
            debug!(%client, "AXFR refused");
            return self.reply(request, ResponseCode::Refused, limit, |m| {
                extended_error(m, EDE_PROHIBITED);
            });
        }
        let catalog = self.catalog();
        let Some(zone) = catalog.zones().iter().find(|z| z.origin() == &query.name) else {
            return self.reply(request, ResponseCode::NotAuth, limit, |_| {});
        };
        let records = zone.axfr_records();
        let mut messages = Vec::new();
        for (i, chunk) in records.chunks(AXFR_RECORDS_PER_MESSAGE).enumerate() {
            let mut m = self.response(request, ResponseCode::NoError);
            m.metadata.authoritative = true;
            if i > 0 {
                // RFC 5936 §2.2: the question appears in the first message only (MAY repeat).
                m.queries.clear();
                m.edns = None;
            }
            m.answers = chunk.to_vec();
            match m.to_vec() {
                Ok(bytes) => messages.push(bytes),
                Err(e) => {
                    warn!("AXFR of {}: cannot encode: {e}", zone.origin());
                    return self.reply(request, ResponseCode::ServFail, limit, |_| {});
                }
            }
        }
        debug!(%client, "AXFR of {}: {} records", zone.origin(), records.len());
        Outcome::Stream(messages)
    }
}

/// Encode; if larger than `limit`, send the header and question with TC=1 instead (the client
/// retries over TCP, RFC 1035 §4.2.1, RFC 7766 §5). Encoding failures become SERVFAIL.
fn encode_limited(m: &Message, limit: usize) -> Vec<u8> {
    match m.to_vec() {
        Ok(bytes) if bytes.len() <= limit => bytes,
        Ok(_) => {
            let mut t = m.truncate();
            t.metadata.truncation = true;
            t.to_vec().unwrap_or_default()
        }
        Err(e) => {
            warn!("cannot encode a response: {e}");
            let mut fail = Message::response(m.metadata.id, OpCode::Query);
            fail.metadata.response_code = ResponseCode::ServFail;
            fail.queries = m.queries.clone();
            fail.to_vec().unwrap_or_default()
        }
    }
}

/// An error response to a message we could not (fully) parse: header only, plus the question
/// if we have it.
fn reply_error(id: u16, op: OpCode, rcode: ResponseCode, query: Option<Query>) -> Outcome {
    let mut m = Message::response(id, op);
    m.metadata.response_code = rcode;
    if let Some(q) = query {
        m.queries.push(q);
    }
    match m.to_vec() {
        Ok(bytes) => Outcome::Reply(bytes),
        Err(_) => Outcome::Drop,
    }
}

/// RFC 8914 §4.19 "Prohibited": the client may not have this (ACL, transfers).
const EDE_PROHIBITED: u16 = 18;
/// RFC 8914 §4.21 "Not Authoritative": not ours, and recursion not asked for or offered.
const EDE_NOT_AUTHORITATIVE: u16 = 20;
/// The Extended DNS Error option code (RFC 8914 §2).
const EDNS_OPTION_EDE: u16 = 15;

/// Add an Extended DNS Error (info code, no extra text) to `m` — only when the client sent
/// EDNS, since the option lives in the OPT record (RFC 8914 §3).
fn extended_error(m: &mut Message, info_code: u16) {
    if let Some(edns) = m.edns.as_mut() {
        edns.options_mut().insert(EdnsOption::Unknown(
            EDNS_OPTION_EDE,
            info_code.to_be_bytes().to_vec(),
        ));
    }
}
