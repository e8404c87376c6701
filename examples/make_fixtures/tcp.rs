//! A TCP connection that writes its own packets: handshake, data cut into MSS-sized segments,
//! ACKs the way Windows 2000 sends them (every second segment at once, otherwise after the
//! 200 ms delayed-ACK timer unless data goes back first), the receive window respected, and
//! FIN or RST teardown. Times are as seen at a capture point in the middle of the path: an
//! answer shows up one round-trip time after the packet it answers.

use crate::trace::{FlowId, Frag, MS, Trace, US};
use crate::wire::{self, tcpflag};

pub const CLIENT: usize = 0;
pub const SERVER: usize = 1;

/// Windows 2000's default receive window on Ethernet: 16 KiB rounded up to 12 full segments.
const WINDOW: u16 = 17_520;
const DELAYED_ACK: u64 = 200 * MS;

pub struct Tcp {
    pub flow: FlowId,
    /// The connection's clock: when the next thing happens.
    pub t: u64,
    pub rtt: u64,
    isn: [u32; 2],
    /// Bytes (SYN and FIN count one each) each side has sent, from its ISN.
    sent: [u64; 2],
    mss: [usize; 2],
    /// Segments each side has received and not yet acknowledged.
    unacked: [u32; 2],
    /// When each side's delayed-ACK timer goes off.
    ack_timer: [Option<u64>; 2],
    /// ACKs each side has sent: (time, bytes of the other side acknowledged).
    acks: [Vec<(u64, u64)>; 2],
}

impl Tcp {
    fn new(tr: &mut Trace, flow: FlowId, t: u64, rtt: u64) -> Self {
        let f = &tr.flows[flow.0];
        // MSS = link MTU minus IP and TCP headers.
        let ip = if f.v6 { 40 } else { 20 } + if f.v6_ext { 40 } else { 0 };
        // The link's MTU: smaller under PPPoE and inside tunnels.
        let mss = tr.links[f.link.0].encap.mtu() - ip - 20;
        let isn = [tr.rng.next_u64() as u32, tr.rng.next_u64() as u32];
        Self {
            flow,
            t,
            rtt,
            isn,
            sent: [0, 0],
            mss: [mss, mss],
            unacked: [0, 0],
            ack_timer: [None, None],
            acks: [vec![], vec![]],
        }
    }

    /// Three-way handshake starting at `t`.
    pub fn connect(tr: &mut Trace, flow: FlowId, t: u64, rtt: u64) -> Self {
        let mut c = Self::new(tr, flow, t, rtt);
        c.syn(tr);
        c.t += rtt;
        c.syn_ack(tr);
        c.t += rtt;
        c.segment(tr, CLIENT, tcpflag::ACK, &[]);
        // The application writes its first request a moment after connect() returns.
        c.t += tr.rng.range(40, 150) * US;
        c
    }

    /// A connection already open when the capture started: no handshake is written.
    pub fn midstream(tr: &mut Trace, flow: FlowId, t: u64, rtt: u64) -> Self {
        let mut c = Self::new(tr, flow, t, rtt);
        c.sent = [1 + tr.rng.range(1000, 90_000), 1 + tr.rng.range(1000, 900_000)];
        c.acks[CLIENT].push((0, c.sent[SERVER]));
        c.acks[SERVER].push((0, c.sent[CLIENT]));
        c
    }

    /// A SYN that nobody answers, sent `tries` times with Windows' doubling retransmission
    /// timer (3 s, then 6 s: RFC 6298 §5.5, as Windows 2000 does with its initial 3 s).
    pub fn unanswered(tr: &mut Trace, flow: FlowId, t: u64, tries: u32) -> Self {
        let mut c = Self::new(tr, flow, t, 0);
        let mut rto = 3 * crate::trace::SEC;
        for i in 0..tries {
            if i > 0 {
                c.t += rto;
                rto *= 2;
            }
            c.syn(tr);
        }
        c
    }

    /// A SYN to a port where nothing listens: the server's stack answers RST/ACK (RFC 9293
    /// §3.10.7.1).
    pub fn refused(tr: &mut Trace, flow: FlowId, t: u64, rtt: u64) -> Self {
        let mut c = Self::new(tr, flow, t, rtt);
        c.syn(tr);
        c.t += rtt;
        c.segment(tr, SERVER, tcpflag::RST | tcpflag::ACK, &[]);
        c
    }

    pub fn syn(&mut self, tr: &mut Trace) {
        let opts = wire::syn_options(self.mss[CLIENT] as u16);
        self.raw(tr, CLIENT, self.t, self.isn[CLIENT], 0, tcpflag::SYN, &opts, &[]);
        self.sent[CLIENT] = 1;
    }

    pub fn syn_ack(&mut self, tr: &mut Trace) {
        let opts = wire::syn_options(self.mss[SERVER] as u16);
        let ack = self.isn[CLIENT].wrapping_add(1);
        self.raw(tr, SERVER, self.t, self.isn[SERVER], ack, tcpflag::SYN | tcpflag::ACK, &opts, &[]);
        self.sent[SERVER] = 1;
        self.acks[SERVER].push((self.t, 1));
    }

    /// `side` sends `data` starting now; the clock ends at the last segment.
    pub fn send(&mut self, tr: &mut Trace, side: usize, data: &[u8]) {
        let peer = 1 - side;
        let chunks: Vec<&[u8]> = data.chunks(self.mss[side]).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            // Wait for the window to open: the peer's ACKs up to now must cover enough.
            loop {
                let acked = self.acked_by(peer, self.t);
                if self.sent[side] + chunk.len() as u64 - acked <= u64::from(WINDOW) {
                    break;
                }
                if let Some(&(at, _)) = self.acks[peer].iter().find(|(at, n)| *at > self.t && *n > acked) {
                    self.t = at + 20_000;
                } else if let Some(due) = self.ack_timer[peer] {
                    self.flush(tr, due + 1);
                } else {
                    panic!("window full with nothing left to acknowledge");
                }
            }
            let flags = if i + 1 == chunks.len() { tcpflag::ACK | tcpflag::PSH } else { tcpflag::ACK };
            self.segment(tr, side, flags, chunk);
            // The peer acks every second segment at once (RFC 1122 4.2.3.2), else starts its timer.
            self.unacked[peer] += 1;
            if self.unacked[peer] >= 2 {
                let at = self.t + self.rtt;
                self.pure_ack(tr, peer, at);
            } else if self.ack_timer[peer].is_none() {
                self.ack_timer[peer] = Some(self.t + self.rtt + DELAYED_ACK);
            }
            // 100 Mbit/s: 80 ns per byte on the wire, plus headers, preamble and gap.
            self.t += (chunk.len() as u64 + 78) * 80;
        }
    }

    /// The client sends `req`; after `think` the server answers `resp`.
    pub fn exchange(&mut self, tr: &mut Trace, req: &[u8], think: u64, resp: &[u8]) {
        self.send(tr, CLIENT, req);
        self.t += self.rtt + think;
        self.send(tr, SERVER, resp);
        self.t += self.rtt;
    }

    /// Let time pass; any delayed ACK that falls due in it is sent.
    pub fn wait(&mut self, tr: &mut Trace, dt: u64) {
        self.t += dt;
        self.flush(tr, self.t);
    }

    /// `side` sends FIN, the other side answers with its own FIN, `side` acks it.
    pub fn close(&mut self, tr: &mut Trace, side: usize) {
        self.flush(tr, self.t);
        self.segment(tr, side, tcpflag::FIN | tcpflag::ACK, &[]);
        self.sent[side] += 1;
        self.t += self.rtt;
        self.segment(tr, 1 - side, tcpflag::FIN | tcpflag::ACK, &[]);
        self.sent[1 - side] += 1;
        self.t += self.rtt;
        self.segment(tr, side, tcpflag::ACK, &[]);
    }

    /// `side` aborts the connection.
    pub fn reset(&mut self, tr: &mut Trace, side: usize) {
        self.flush(tr, self.t);
        self.segment(tr, side, tcpflag::RST | tcpflag::ACK, &[]);
    }

    /// Sends the delayed ACKs whose timers went off before `now`.
    fn flush(&mut self, tr: &mut Trace, now: u64) {
        for side in [CLIENT, SERVER] {
            if let Some(due) = self.ack_timer[side]
                && due < now
            {
                self.pure_ack(tr, side, due);
            }
        }
    }

    fn acked_by(&self, side: usize, now: u64) -> u64 {
        self.acks[side].iter().filter(|(at, _)| *at <= now).map(|&(_, n)| n).max().unwrap_or(0)
    }

    fn pure_ack(&mut self, tr: &mut Trace, side: usize, at: u64) {
        let t = self.t;
        self.t = at;
        self.segment(tr, side, tcpflag::ACK, &[]);
        self.t = t;
    }

    /// One segment from `side` at the clock, acknowledging everything the peer has sent.
    fn segment(&mut self, tr: &mut Trace, side: usize, flags: u8, data: &[u8]) {
        let peer = 1 - side;
        let seq = self.isn[side].wrapping_add(self.sent[side] as u32);
        let ack = self.isn[peer].wrapping_add(self.sent[peer] as u32);
        self.raw(tr, side, self.t, seq, ack, flags, &[], data);
        self.sent[side] += data.len() as u64;
        // Anything we send carries the ACK, so our pending ACK is gone.
        self.unacked[side] = 0;
        self.ack_timer[side] = None;
        self.acks[side].push((self.t, self.sent[peer]));
    }

    #[allow(clippy::too_many_arguments, reason = "the fields of a TCP header")]
    fn raw(
        &self,
        tr: &mut Trace,
        side: usize,
        at: u64,
        seq: u32,
        ack: u32,
        flags: u8,
        options: &[u8],
        data: &[u8],
    ) {
        let to_server = side == CLIENT;
        let (_, _, src, dst) = tr.ends(self.flow, to_server);
        let f = &tr.flows[self.flow.0];
        let (sport, dport) = if to_server { (f.cport, f.sport) } else { (f.sport, f.cport) };
        let h = wire::TcpHeader { sport, dport, seq, ack, flags, window: WINDOW, options: options.to_vec() };
        let seg = wire::tcp(src, dst, &h, data);
        tr.send(self.flow, to_server, at, &seg, Frag::No);
    }
}
