//! The query handler over arbitrary datagrams (UDP and TCP paths): no panic, answers within
//! the size limit, and never an answer to a response.
#![no_main]

use std::str::FromStr;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use torsion_dns::proto::rr::Name;
use torsion_dns::server::{Acl, Catalog, Outcome, QueryHandler, Transport};
use torsion_dns::zone::parser::parse_zone_str;
use torsion_dns::zone::Zone;

const ZONE: &str = "$TTL 300
@ IN SOA ns hm 1 7200 900 1209600 60
@ IN NS ns
@ IN MX 10 mail
ns IN A 192.0.2.53
mail IN A 192.0.2.25
www IN CNAME web
web IN A 192.0.2.80
*.wild IN TXT \"wildcard\"
sub IN NS ns.sub
ns.sub IN A 192.0.2.153
";

fn handler() -> &'static QueryHandler {
    static HANDLER: OnceLock<QueryHandler> = OnceLock::new();
    HANDLER.get_or_init(|| {
        let origin = Name::from_str("example.test.").expect("origin");
        let parsed = parse_zone_str(ZONE, &origin, "fuzz").expect("zone");
        let zone = Zone::from_records(parsed.origin, parsed.records).expect("zone");
        QueryHandler::new(Catalog::new(vec![zone])).with_transfers(Acl::local_networks())
    })
}

fuzz_target!(|data: &[u8]| {
    let h = handler();
    let client = "127.0.0.1".parse().expect("ip");
    for transport in [Transport::Udp, Transport::Tcp] {
        match h.handle_fast(data, client, transport) {
            Outcome::Reply(reply) => {
                if transport == Transport::Udp {
                    assert!(reply.len() <= 1232);
                }
                // QR must be clear in the input for us to have answered.
                assert!(data.len() >= 12 && data[2] & 0x80 == 0);
            }
            Outcome::Stream(_) | Outcome::Drop | Outcome::Resolve(_) => {}
        }
    }
});
