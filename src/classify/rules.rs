//! Rules: what a protocol seen in a payload means for a flow's label.
//!
//! What I own: for each [`Proto`], the seed services that stand for it (the label a port gave
//! is *confirmed* when it is one of them) and the service a flow of that protocol takes when
//! the port says otherwise (HTTP on 8000 is HTTP, not "Cybercash Credit Gateway"; SMB on 80
//! is CIFS; a DCE/RPC call on a dynamic port is "RPC session ports"), by the seed's names,
//! resolved once against the table in use (a user `--table` without those names keeps the
//! port's label). Some protocols are weak evidence and never overrule a port, only label a
//! flow the port left unknown: TLS (it carries HTTP, LDAP, IMAP, RDP...), RTP (a weak
//! signature), and DNS on the LLMNR and mDNS ports (their wire format is DNS's).
//!
//! What I must not do: look at bytes (the checks in [`super::evidence`] do), or keep state.

use super::evidence::Proto;
use crate::decode::Tunnels;
use crate::services::{ServiceId, ServiceTable, Transport, Verdict};

/// How a flow's label was decided: the flow records' `confidence`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Confidence {
    /// The port alone (the table; no payload seen, or none recognised).
    #[default]
    Port = 0,
    /// The port's label, and the payload agrees.
    Confirmed = 1,
    /// The payload overruled the port, or labelled a port the table does not list.
    Payload = 2,
    /// A range entry (SQL session 1024-5000), once the server answered the handshake.
    Range = 3,
    /// A control channel announced the flow's endpoint (`learn`). Kept in a flow's line as
    /// `Payload` (settled: its own payload is not checked), told apart by `DecidedBy::Learned`.
    Learned = 4,
}

impl Confidence {
    pub const ALL: [Confidence; 5] = [
        Confidence::Port,
        Confidence::Confirmed,
        Confidence::Payload,
        Confidence::Range,
        Confidence::Learned,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Port => "port",
            Confidence::Confirmed => "confirmed",
            Confidence::Payload => "payload",
            Confidence::Range => "range",
            Confidence::Learned => "learned",
        }
    }
}

/// The seed services that stand for a protocol, and the one it labels a flow with.
struct Spec {
    proto: Proto,
    stands_for: &'static [&'static str],
    label: &'static str,
    /// Labels only flows the port left unknown.
    weak: bool,
}

const SMB: &[&str] = &[
    "Common Internet File System (CIFS)",
    "NetBT service sessions",
    "File shares session",
    "Login Sequence",
    "DNS Administration",
];
const DCERPC: &[&str] = &[
    "Remote procedure call (RPC)",
    "RPC session ports",
    "RPC user manager, service manager, port mapper",
    "RPC client fixed port session queries",
    "RPC client using a fixed port session replication",
    "Service Control Manager (SCM) used by DCOM",
    "Distributed Component Object Model (DCOM) (SCM – (Service Control Manager) uses UDP/TCP to dynamically assign ports for DCOM)",
    "Client/Server Communication",
    "DHCP Manager",
    "Windows Internet Name Service (WINS) Manager",
    "Exchange Administrator",
    "Microsoft Message Queue Server",
    "SQL session mapper",
];
const KERBEROS: &[&str] = &[
    "Kerberos krb5",
    "Kerberos de-multiplexer",
    "Kerberos klogin",
    "Kerberos kpasswd (v5)",
    "Kerberos kshell",
];
const LDAP: &[&str] =
    &["Lightweight Directory Access Protocol (LDAP)", "NetMeeting Internet Locator Server (ILS)"];
const NBNS: &[&str] = &[
    "NetBT name lookups",
    "Browsing requests of NetBT",
    "File shares name lookup",
    "WINS NetBT name service",
    "WINS Proxy",
    "WINS Registration",
    "Structured query language (SQL) Named Pipes encryption over other protocols name lookup",
    "SQL RPC encryption over other protocols name lookup",
];
const NBDGM: &[&str] =
    &["NetBT datagrams", "Browsing datagram responses of NetBIOS over TCP/IP (NetBT)", "NetLogon"];
const TPKT: &[&str] = &["Terminal Services", "Message transfer agent (MTA) - X.400 over TCP/IP", "X400"];

const SPECS: [Spec; 27] = [
    Spec { proto: Proto::Smb1, stands_for: SMB, label: "Common Internet File System (CIFS)", weak: false },
    Spec { proto: Proto::Smb2, stands_for: SMB, label: "Common Internet File System (CIFS)", weak: false },
    Spec { proto: Proto::Nbss, stands_for: SMB, label: "NetBT service sessions", weak: false },
    Spec { proto: Proto::DceRpcCo, stands_for: DCERPC, label: "RPC session ports", weak: false },
    Spec { proto: Proto::DceRpcCl, stands_for: DCERPC, label: "RPC session ports", weak: false },
    Spec { proto: Proto::Tpkt, stands_for: TPKT, label: "Terminal Services", weak: false },
    Spec { proto: Proto::Tds, stands_for: &["SQL session"], label: "SQL session", weak: false },
    Spec { proto: Proto::Kerberos, stands_for: KERBEROS, label: "Kerberos krb5", weak: false },
    Spec {
        proto: Proto::Ldap,
        stands_for: LDAP,
        label: "Lightweight Directory Access Protocol (LDAP)",
        weak: false,
    },
    Spec {
        proto: Proto::Cldap,
        stands_for: LDAP,
        label: "Lightweight Directory Access Protocol (LDAP)",
        weak: false,
    },
    Spec {
        proto: Proto::Dns,
        stands_for: &[
            "Domain Name System (DNS) client to server lookup (varies)",
            "SQL TCP client name lookup",
        ],
        label: "Domain Name System (DNS) client to server lookup (varies)",
        weak: false,
    },
    Spec {
        proto: Proto::Http,
        stands_for: &["Hypertext Transfer Protocol (HTTP)", "Internet Information Services (IIS)"],
        label: "Hypertext Transfer Protocol (HTTP)",
        weak: false,
    },
    Spec {
        proto: Proto::Tls,
        stands_for: &["HTTP-Secure Sockets Layer (SSL)", "IMAP (SSL)", "LDAP (SSL)"],
        label: "HTTP-Secure Sockets Layer (SSL)",
        weak: true,
    },
    Spec {
        proto: Proto::Smtp,
        stands_for: &["Simple Mail Transfer Protocol (SMTP)"],
        label: "Simple Mail Transfer Protocol (SMTP)",
        weak: false,
    },
    Spec {
        proto: Proto::Ftp,
        stands_for: &["File Transfer Protocol (FTP)"],
        label: "File Transfer Protocol (FTP)",
        weak: false,
    },
    Spec {
        proto: Proto::Imap,
        stands_for: &["Internet Message Access Protocol (IMAP)"],
        label: "Internet Message Access Protocol (IMAP)",
        weak: false,
    },
    Spec {
        proto: Proto::Irc,
        stands_for: &[
            "Internet Relay Chat (IRC)",
            "Microsoft Chat client to server",
            "Microsoft Chat server to server",
        ],
        label: "Internet Relay Chat (IRC)",
        weak: false,
    },
    Spec { proto: Proto::Telnet, stands_for: &["Telnet"], label: "Telnet", weak: false },
    Spec {
        proto: Proto::Snmp,
        stands_for: &["Simple Network Management Protocol (SNMP)", "SNMP Trap"],
        label: "Simple Network Management Protocol (SNMP)",
        weak: false,
    },
    Spec { proto: Proto::NbNs, stands_for: NBNS, label: "NetBT name lookups", weak: false },
    Spec { proto: Proto::NbDgm, stands_for: NBDGM, label: "NetBT datagrams", weak: false },
    Spec {
        proto: Proto::Dhcp,
        stands_for: &["DHCP server", "Dynamic Host Configuration Protocol (DHCP) client"],
        label: "DHCP server",
        weak: false,
    },
    Spec {
        proto: Proto::Ike,
        stands_for: &["Internet Key Exchange (IKE)"],
        label: "Internet Key Exchange (IKE)",
        weak: false,
    },
    Spec {
        proto: Proto::Radius,
        stands_for: &[
            "Remote Authentication Dial-In User Service (RADIUS) authentication (Routing and Remote Access)",
            "RADIUS accounting (Routing and Remote Access)",
        ],
        label: "Remote Authentication Dial-In User Service (RADIUS) authentication (Routing and Remote Access)",
        weak: false,
    },
    Spec {
        proto: Proto::Tftp,
        stands_for: &["Remote Install TFTP – (Trivial File Transfer Protocol)"],
        label: "Remote Install TFTP – (Trivial File Transfer Protocol)",
        weak: false,
    },
    Spec {
        proto: Proto::L2tp,
        stands_for: &["Layer Two Tunneling Protocol (L2TP)"],
        label: "Layer Two Tunneling Protocol (L2TP)",
        weak: false,
    },
    Spec {
        proto: Proto::Rtp,
        stands_for: &[
            "NetMeeting RTP - ( real time protocol) audio stream",
            "NetMeeting H.323 streaming RTP - (real time protocol) over UDP",
        ],
        label: "NetMeeting RTP - ( real time protocol) audio stream",
        weak: true,
    },
];

/// LLMNR (RFC 4795) and mDNS (RFC 6762) speak DNS's wire format on their own ports: there a
/// DNS-format payload is not the DNS service.
const DNS_FORMAT_PORTS: [u16; 2] = [5353, 5355];
/// IPsec NAT traversal (RFC 3948) carries IKE and ESP on one UDP 5-tuple: with tunnels not
/// opened, an IKE first packet does not make the flow IKE (most of its bytes are ESP). Opened,
/// the ESP packets are flows of their own, and what the NAT-T flow keeps is IKE.
const NAT_T_PORT: u16 = 4500;

/// One protocol's rule, resolved against a table.
#[derive(Clone, Debug, Default)]
struct Rule {
    stands_for: Vec<ServiceId>,
    label: Option<ServiceId>,
    weak: bool,
}

/// The rules of every protocol, resolved against one table.
#[derive(Clone, Debug)]
pub struct Rules {
    by_proto: Vec<Rule>,
    /// Tunnels are not opened (`--tunnels outer`): ESP in UDP stays in its NAT-T flow.
    nat_t_shared: bool,
}

impl Rules {
    /// Resolves the seed names against `table` (names it lacks are left out). `tunnels`: how
    /// far decoding looks, which decides what a NAT-T flow holds.
    #[must_use]
    pub fn new(table: &ServiceTable, tunnels: Tunnels) -> Self {
        let id = |name: &str| table.id_of(name);
        // Indexed by the protocol's discriminant: `Proto::ALL` is in declaration order.
        let by_proto = Proto::ALL
            .iter()
            .map(|p| {
                SPECS.iter().find(|s| s.proto == *p).map_or_else(Rule::default, |s| Rule {
                    stands_for: s.stands_for.iter().filter_map(|n| id(n)).collect(),
                    label: id(s.label),
                    weak: s.weak,
                })
            })
            .collect();
        Self { by_proto, nat_t_shared: tunnels == Tunnels::Outer }
    }

    /// Whether `service` is one of the seed services that stand for `proto` (a label the
    /// protocol confirms).
    #[must_use]
    pub fn stands_for(&self, proto: Proto, service: ServiceId) -> bool {
        self.by_proto.get(proto as usize).is_some_and(|r| r.stands_for.contains(&service))
    }

    /// The label of a flow whose port rule gave `verdict` and whose opening packets showed
    /// `proto` (on `transport`), and how it was decided. `bound` is the seed service of the
    /// DCE/RPC interface a bind named (`data/rpc-interfaces.tsv`): an interface with a
    /// DCE/RPC service of its own labels the flow with it, wherever it was bound; one that has
    /// only the generic "RPC session ports", or a service of another protocol, confirms a
    /// DCE/RPC port's label and labels other ports as any DCE/RPC does.
    #[must_use]
    pub fn judge(
        &self,
        verdict: &Verdict,
        transport: Transport,
        proto: Proto,
        bound: Option<ServiceId>,
    ) -> (Option<ServiceId>, Confidence) {
        let keep = (verdict.service, Confidence::Port);
        let Some(rule) = self.by_proto.get(proto as usize) else {
            return keep;
        };
        // Only a DCE/RPC service names a DCE/RPC flow: the seed's NetLogon row is the
        // datagram service on UDP 138, so a bind to the netlogon interface is "RPC session
        // ports" with its interface in the record.
        if let Some(b) = bound.filter(|b| Some(*b) != rule.label && rule.stands_for.contains(b)) {
            let c = if verdict.service == Some(b) { Confidence::Confirmed } else { Confidence::Payload };
            return (Some(b), c);
        }
        if (proto == Proto::Dns && DNS_FORMAT_PORTS.contains(&verdict.server_port))
            || (proto == Proto::Ike && verdict.server_port == NAT_T_PORT && self.nat_t_shared)
        {
            return keep;
        }
        match verdict.service {
            Some(s) if rule.stands_for.contains(&s) => (Some(s), Confidence::Confirmed),
            Some(_) if rule.weak => keep,
            _ => match rule.label {
                Some(l) if transport != Transport::Ip => (Some(l), Confidence::Payload),
                _ => keep,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::DecidedBy;

    fn verdict(t: &ServiceTable, transport: Transport, port: u16) -> Verdict {
        Verdict {
            server_is_dst: true,
            decided_by: DecidedBy::Table,
            server_port: port,
            service: t.lookup(transport, port).service,
        }
    }

    #[test]
    fn every_name_resolves_in_the_embedded_table() {
        let t = ServiceTable::embedded();
        for s in &SPECS {
            assert!(t.id_of(s.label).is_some(), "{}", s.label);
            for n in s.stands_for {
                assert!(t.id_of(n).is_some(), "{n}");
            }
        }
        assert_eq!(SPECS.len(), Proto::ALL.len());
        for p in Proto::ALL {
            assert_eq!(SPECS.iter().filter(|s| s.proto == p).count(), 1, "{p:?}");
        }
    }

    #[test]
    fn the_payload_confirms_overrules_or_fills_in() {
        let t = ServiceTable::embedded();
        let r = Rules::new(t, Tunnels::Outer);
        let name = |(s, c): (Option<ServiceId>, Confidence)| (s.map(|s| t.name(s).to_owned()), c);
        // SMB on 445: confirmed.
        let v = verdict(t, Transport::Tcp, 445);
        assert_eq!(name(r.judge(&v, Transport::Tcp, Proto::Smb2, None)).1, Confidence::Confirmed);
        // HTTP on 8000 (Cybercash Credit Gateway): HTTP, from the payload.
        let v = verdict(t, Transport::Tcp, 8000);
        assert_eq!(
            name(r.judge(&v, Transport::Tcp, Proto::Http, None)),
            (Some("Hypertext Transfer Protocol (HTTP)".into()), Confidence::Payload)
        );
        // SMB on 80: CIFS.
        let v = verdict(t, Transport::Tcp, 80);
        assert_eq!(
            name(r.judge(&v, Transport::Tcp, Proto::Smb1, None)).0.as_deref(),
            Some("Common Internet File System (CIFS)")
        );
        // DCE/RPC on an unlisted UDP port: RPC session ports.
        let v = verdict(t, Transport::Udp, 49162);
        assert_eq!(
            name(r.judge(&v, Transport::Udp, Proto::DceRpcCl, None)),
            (Some("RPC session ports".into()), Confidence::Payload)
        );
        // TLS never overrules a port (RDP on 3389 upgrades to TLS), but labels an unknown one.
        let v = verdict(t, Transport::Tcp, 3389);
        assert_eq!(name(r.judge(&v, Transport::Tcp, Proto::Tls, None)).1, Confidence::Port);
        let v = verdict(t, Transport::Tcp, 8443);
        assert_eq!(name(r.judge(&v, Transport::Tcp, Proto::Tls, None)).1, Confidence::Payload);
        // DNS format on the LLMNR port is not the DNS service.
        let v = verdict(t, Transport::Udp, 5355);
        assert_eq!(r.judge(&v, Transport::Udp, Proto::Dns, None), (None, Confidence::Port));
        // IKE on the NAT-T port is not the whole flow, unless its ESP packets are taken out.
        let v = verdict(t, Transport::Udp, 4500);
        assert_eq!(r.judge(&v, Transport::Udp, Proto::Ike, None), (None, Confidence::Port));
        let opened = Rules::new(t, Tunnels::Open);
        assert_eq!(
            name(opened.judge(&v, Transport::Udp, Proto::Ike, None)).0.as_deref(),
            Some("Internet Key Exchange (IKE)")
        );
    }

    #[test]
    fn a_table_without_the_names_keeps_the_port() {
        let t = ServiceTable::from_tsv("service\tudp\ttcp\nWeb\t\t8000\n", "t.tsv").unwrap();
        let r = Rules::new(&t, Tunnels::Open);
        let v = verdict(&t, Transport::Tcp, 8000);
        assert_eq!(r.judge(&v, Transport::Tcp, Proto::Http, None), (v.service, Confidence::Port));
    }
}
