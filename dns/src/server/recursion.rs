//! The recursive side behind the handler's [`Resolve`]: the iterative [`Recursor`] or the
//! [`Forwarder`], both answering from the shared cache first.

use hickory_proto::rr::{Name, RecordType};

use super::handler::{Answer, Resolve, ResolveFuture};
use crate::forwarder::Forwarder;
use crate::recursor::{Recursor, Resolution, Upstream};

fn answer(r: Resolution) -> Answer {
    Answer {
        rcode: r.rcode,
        answers: r.answers,
        authorities: r.authorities,
    }
}

impl<U: Upstream> Resolve for Recursor<U> {
    fn cached(&self, name: &Name, rtype: RecordType) -> Option<Answer> {
        // Follows a CNAME chain cached one link at a time.
        self.cached_answer(name, rtype).map(answer)
    }

    fn resolve<'a>(&'a self, name: &'a Name, rtype: RecordType) -> ResolveFuture<'a> {
        Box::pin(async move {
            Recursor::resolve(self, name, rtype)
                .await
                .map(answer)
                .map_err(|e| e.to_string())
        })
    }
}

impl<U: Upstream> Resolve for Forwarder<U> {
    fn cached(&self, name: &Name, rtype: RecordType) -> Option<Answer> {
        self.cached_answer(name, rtype).map(answer)
    }

    fn resolve<'a>(&'a self, name: &'a Name, rtype: RecordType) -> ResolveFuture<'a> {
        Box::pin(async move {
            Forwarder::resolve(self, name, rtype)
                .await
                .map(answer)
                .map_err(|e| e.to_string())
        })
    }
}
