//! TEMPORARY STUB: replaced by the real services module.
#![allow(missing_docs, clippy::all, clippy::pedantic)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ServiceId(pub u16);
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Transport {
    Tcp,
    Udp,
    Ip,
}
impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Ip => "ip",
        }
    }
}
impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PortMatch {
    pub service: Option<ServiceId>,
    pub kind: MatchKind,
}
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MatchKind {
    None,
    Single,
    RangeOnly,
}
pub struct ServiceTable {
    names: Vec<String>,
}
#[derive(Debug)]
pub struct TableError;
impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bad table")
    }
}
impl std::error::Error for TableError {}
static T: std::sync::OnceLock<ServiceTable> = std::sync::OnceLock::new();
impl ServiceTable {
    pub fn embedded() -> &'static ServiceTable {
        T.get_or_init(|| ServiceTable {
            names: vec![
                "CIFS".into(),
                "NetBT name lookups".into(),
                "HTTP".into(),
                "ISPMOD".into(),
                "SQL session".into(),
                "ESP".into(),
            ],
        })
    }
    pub fn seed_only() -> &'static ServiceTable {
        Self::embedded()
    }
    pub fn from_tsv(_t: &str, _o: &str) -> Result<ServiceTable, TableError> {
        Err(TableError)
    }
    pub fn lookup(&self, t: Transport, port: u16) -> PortMatch {
        let s = |i| PortMatch {
            service: Some(ServiceId(i)),
            kind: MatchKind::Single,
        };
        match (t, port) {
            (Transport::Tcp, 445) => s(0),
            (Transport::Udp, 137) => s(1),
            (Transport::Tcp, 80) => s(2),
            (Transport::Tcp, 1234) => s(3),
            (Transport::Tcp, 1024..=5000) => PortMatch {
                service: Some(ServiceId(4)),
                kind: MatchKind::RangeOnly,
            },
            _ => PortMatch {
                service: None,
                kind: MatchKind::None,
            },
        }
    }
    pub fn lookup_proto(&self, p: u8) -> Option<ServiceId> {
        (p == 50).then_some(ServiceId(5))
    }
    pub fn name(&self, id: ServiceId) -> &str {
        &self.names[id.0 as usize]
    }
    pub fn candidates(&self, t: Transport, port: u16) -> &[ServiceId] {
        let _ = (t, port);
        &[]
    }
    pub fn ports(&self, _id: ServiceId, _t: Transport) -> String {
        String::new()
    }
    pub fn len(&self) -> usize {
        self.names.len()
    }
    pub fn is_empty(&self) -> bool {
        false
    }
}
mod rule;
pub use rule::{DecidedBy, Opening, Verdict, decide, decide_ip};
