#!/usr/bin/env python3
"""Writes the committed seed corpora: fuzz/corpus/<target>/seed-*.

pcap_reader: the project's own small fixtures (made by examples/make_fixtures), as they are.
decode_packet: every record of those classic pcap files, as a selector byte (the link type's
index in the target's table) followed by the record's bytes.

The shared bad-input catalogue (../shared/badinputs) is not copied into the repository: pass it
to write local seeds from it too (scripts/fuzz does, into a corpus directory git ignores):
    python3 fuzz/make_seeds.py [OUTDIR SOURCE_DIR]
"""
import hashlib, os, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = sys.argv[1] if len(sys.argv) > 2 else os.path.join(HERE, 'corpus')
SOURCES = [sys.argv[2]] if len(sys.argv) > 2 else [os.path.join(ROOT, 'fixtures')]


def selectors():
    """Link type number -> decode_packet's selector: the index in `Linktype::SUPPORTED`, read
    from src/capture/mod.rs (a copy here went stale when that list was reordered, and sent every
    Ethernet seed through the NULL decoder), with 147 (unsupported) one past its end."""
    import re
    src = open(os.path.join(ROOT, 'src', 'capture', 'mod.rs')).read()
    numbers = {m[1]: int(m[2]) for m in re.finditer(r'pub const (\w+): Self = Self\((\d+)\);', src)}
    names = re.search(r'pub const SUPPORTED: \[Self; \d+\] = \[(.*?)\];', src, re.S)[1]
    order = [numbers[n] for n in re.findall(r'Self::(\w+)', names)]
    table = {lt: i for i, lt in enumerate(order)}
    table[147] = len(order)
    return table


SELECTOR = selectors()
MAX_SEED = 16 * 1024


def captures():
    for d in SOURCES:
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if name.endswith(('.pcap', '.pcapng')) and 0 < os.path.getsize(path) <= MAX_SEED:
                yield name, open(path, 'rb').read()


def records(data):
    """(linktype, bytes) of each record of a classic pcap; nothing for anything else."""
    if len(data) < 24:
        return
    for endian in '<>':
        magic, = struct.unpack(endian + 'I', data[:4])
        if magic in (0xa1b2c3d4, 0xa1b23c4d):
            break
    else:
        return
    linktype = struct.unpack(endian + 'I', data[20:24])[0] & 0x0fffffff
    at = 24
    while at + 16 <= len(data):
        caplen = struct.unpack(endian + 'I', data[at + 8:at + 12])[0]
        body = data[at + 16:at + 16 + caplen]
        if len(body) < caplen:
            return
        yield linktype, body
        at += 16 + caplen


def write(target, content):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = 'seed-' + hashlib.sha1(content).hexdigest()[:16]
    with open(os.path.join(d, name), 'wb') as f:
        f.write(content)


for name, data in captures():
    write('pcap_reader', data)
    for linktype, body in records(data):
        if linktype in SELECTOR:
            write('decode_packet', bytes([SELECTOR[linktype]]) + body)


# --- Tunnels (issue 17's hostile input), for decode_packet --------------------------------------
# Ethernet frames built here, byte by byte from the RFC layouts, not copied from anywhere: nests
# of GRE, IP in IP and VXLAN past decode's depth of 4 (tunnel::MAX_DEPTH); lengths that lie (an
# inner IP length above or below its bytes, GRE flags calling for fields that are not there,
# L2TP length and offset fields, Teredo indicator lengths); and each tunnel header cut by the
# snaplen (the selector's high nibble makes the wire length longer than the bytes).

def be16(v):
    return struct.pack('>H', v & 0xffff)


def be32(v):
    return struct.pack('>I', v & 0xffffffff)


def eth(ethertype, payload):
    return bytes.fromhex('020000000002020000000001') + be16(ethertype) + payload


def ipv4(proto, payload, src=(192, 0, 2, 1), dst=(198, 51, 100, 1), total=None):
    total = 20 + len(payload) if total is None else total
    return (bytes([0x45, 0]) + be16(total) + bytes([0, 1, 0, 0, 64, proto, 0, 0]) + bytes(src)
            + bytes(dst) + payload)


def ipv6(next_header, payload, plen=None):
    plen = len(payload) if plen is None else plen
    return (bytes([0x60, 0, 0, 0]) + be16(plen) + bytes([next_header, 64])
            + bytes.fromhex('20010db8000000000000000000000001')
            + bytes.fromhex('20010db8000000000000000000000002') + payload)


def udp(sport, dport, payload, length=None):
    length = 8 + len(payload) if length is None else length
    return be16(sport) + be16(dport) + be16(length) + be16(0) + payload


# The innermost packet every nest carries: a DNS-sized UDP datagram, 10.0.0.1:40000 -> 10.0.0.2:53.
INNER = ipv4(17, udp(40000, 53, bytes(12)), (10, 0, 0, 1), (10, 0, 0, 2))


def gre(proto, payload, key=None, seq=None, csum=False):
    """RFC 2784/2890: C, K, S and the fields they call for, in that order."""
    flags = (0x8000 if csum else 0) | (0x2000 if key is not None else 0) | (0x1000 if seq is not None else 0)
    h = be16(flags) + be16(proto)
    if csum:
        h += bytes(4)
    if key is not None:
        h += be32(key)
    if seq is not None:
        h += be32(seq)
    return h + payload


def over_gre(ip_packet, key=None):
    """An IPv4 packet inside GRE inside IPv4."""
    return ipv4(47, gre(0x0800, ip_packet, key=key))


def vxlan(vni, frame):
    return udp(49152, 4789, bytes([0x08, 0, 0, 0]) + be32(vni << 8) + frame)


def seed(name, frame, cut=0):
    """decode_packet's input: the Ethernet selector, `cut` (0-15) * 97 bytes cut by the snaplen."""
    d = os.path.join(OUT, 'decode_packet')
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'seed-tunnel-' + name), 'wb') as f:
        f.write(bytes([SELECTOR[1] | cut << 4]) + frame)


def tunnel_seeds():
    # Nests to depth 8: GRE in IPv4 in GRE..., 4in4, 6in4/4in6 alternating, VXLAN in GRE in VXLAN.
    p = INNER
    for depth in range(1, 9):
        p = over_gre(p, key=depth)
        seed(f'gre-nest-{depth}', eth(0x0800, p))
    p = INNER
    for depth in range(1, 9):
        p = ipv4(4, p)
        seed(f'4in4-nest-{depth}', eth(0x0800, p))
    p, v6 = INNER, False
    for depth in range(1, 9):
        p, v6 = (ipv6(4, p), True) if not v6 else (ipv4(41, p), False)
        seed(f'6in4-4in6-nest-{depth}', eth(0x86dd if v6 else 0x0800, p))
    p = INNER
    for depth in range(1, 9):
        if depth % 2:
            p = ipv4(17, vxlan(depth, eth(0x0800, p)))
        else:
            p = over_gre(p, key=depth)
        seed(f'vxlan-gre-nest-{depth}', eth(0x0800, p))
    # GRE in GRE with no IP between: GRE carrying Ethernet (0x6558) whose frame is GRE's IPv4 again.
    p = INNER
    for depth in range(1, 7):
        p = ipv4(47, gre(0x6558, eth(0x0800, p), key=depth))
    seed('gre-teb-nest-6', eth(0x0800, p))

    # Inner lengths that lie.
    body = udp(40000, 53, bytes(12))
    for total in (0, 10, 19, 21, 40, 41, 100, 1500, 65535):
        lying = ipv4(17, body, (10, 0, 0, 1), (10, 0, 0, 2), total=total)
        seed(f'gre-inner-total-{total}', eth(0x0800, over_gre(lying)))
        seed(f'vxlan-inner-total-{total}', eth(0x0800, ipv4(17, vxlan(7, eth(0x0800, lying)))))
    for plen in (0, 7, 8, 9, 200, 65535):
        lying = ipv6(17, body, plen=plen)
        seed(f'6in4-inner-plen-{plen}', eth(0x0800, ipv4(41, lying)))
    # The outer packet's own length shorter than its tunnel's (the inner runs past it) and longer.
    whole = over_gre(INNER, key=5)
    for total in (24, 28, 36, 60, len(whole) + 40):
        seed(f'gre-outer-total-{total}', eth(0x0800, ipv4(47, whole[20:], total=total)))
    # A UDP length that says less (or more) than the VXLAN header and frame it carries.
    v = vxlan(9, eth(0x0800, INNER))
    for length in (8, 12, 16, 30, len(v) + 100):
        seed(f'vxlan-udp-len-{length}', eth(0x0800, ipv4(17, v[:4] + be16(length) + v[6:])))

    # GRE flags asking for fields that are not there (C, K, S in every mix), bare and with the
    # first few bytes of each field.
    for flags in range(8):
        c, k, s = flags & 4, flags & 2, flags & 1
        h = be16((0x8000 if c else 0) | (0x2000 if k else 0) | (0x1000 if s else 0)) + be16(0x0800)
        for extra in (0, 2, 4, 6, 8, 10):
            seed(f'gre-flags-{flags}-extra-{extra}', eth(0x0800, ipv4(47, h + bytes(range(1, extra + 1)))))
    # RFC 1701's routing bit, reserved bits, versions 2..7, PPTP (version 1) without its key.
    for first, second in ((0x40, 0x00), (0x08, 0x00), (0x04, 0x00), (0x00, 0x02), (0x00, 0x07), (0x30, 0x01)):
        seed(f'gre-bits-{first:02x}{second:02x}', eth(0x0800, ipv4(47, bytes([first, second, 0x08, 0]) + INNER)))
    # PPTP: S and A with nothing behind, a payload length that lies, PPP cut at each byte.
    ppp = bytes([0xff, 0x03, 0x00, 0x21]) + INNER
    for flags, tail in ((0x3081, b''), (0x3081, bytes(4)), (0x3001, be32(1)), (0x3001, be32(1) + ppp[:1]),
                        (0x3001, be32(1) + ppp[:2]), (0x3001, be32(1) + ppp[:3]), (0x3001, be32(1) + ppp)):
        for plen in (0, 4, len(ppp), 0xffff):
            h = be16(flags) + be16(0x880b) + be16(plen) + be16(0x4000)
            seed(f'pptp-{flags:04x}-{len(tail)}-plen-{plen}', eth(0x0800, ipv4(47, h + tail)))

    # L2TP (RFC 2661 §3.1): length fields below, at and past the header, offsets past the packet.
    ppp = bytes([0xff, 0x03, 0x00, 0x21]) + INNER
    for length in (0, 3, 6, 11, 12, 13, 0xffff):
        msg = be16(0x4802) + be16(length) + be16(5) + be16(9) + be16(3) + be16(4) + ppp
        seed(f'l2tp-length-{length}', eth(0x0800, ipv4(17, udp(1701, 1701, msg))))
    for offset in (0, 1, 2, 60, 0xffff):
        msg = be16(0x0202) + be16(5) + be16(9) + be16(offset) + bytes(min(offset, 4)) + ppp
        seed(f'l2tp-offset-{offset}', eth(0x0800, ipv4(17, udp(40000, 1701, msg))))

    # Teredo (RFC 4380 §5.1.1): authentication indicators whose ID and AU lengths lie, origin
    # indications cut, and a valid one for the snaplen cuts below.
    v6 = ipv6(17, udp(40000, 53, bytes(12)))
    for id_len, au_len in ((0, 0), (1, 0), (255, 255), (0, 200), (40, 0)):
        auth = bytes([0, 1, id_len, au_len]) + bytes(8 + 1)
        seed(f'teredo-auth-{id_len}-{au_len}', eth(0x0800, ipv4(17, udp(3797, 3544, auth + v6))))
    origin = bytes([0, 0, 0x7f, 0x7b, 0xac, 0x55, 0xfe, 0xd9])
    for cut in (2, 4, 7, 8, 9, 20):
        seed(f'teredo-origin-cut-{cut}', eth(0x0800, ipv4(17, udp(3544, 3797, (origin + v6)[:cut]))))
    # NAT-T: an ESP packet, IKE's marker, a keepalive.
    for name, payload in (('esp', be32(0x1000) + be32(1) + bytes(16)), ('ike', bytes(4) + bytes(28)),
                          ('keepalive', b'\xff')):
        seed(f'nat-t-{name}', eth(0x0800, ipv4(17, udp(4500, 4500, payload))))

    # Every kind whole, then cut by the snaplen at each byte from the outer transport to the
    # inner transport header's end (wire length 97 bytes past the cut: selector high nibble 1).
    wholes = {
        'gre-key-seq-csum': ipv4(47, gre(0x0800, INNER, key=7, seq=1, csum=True)),
        'gre-teb': ipv4(47, gre(0x6558, eth(0x0800, INNER), key=3)),
        'gre-v6': ipv4(47, gre(0x86dd, ipv6(17, udp(40000, 53, bytes(12))))),
        'pptp': ipv4(47, be16(0x3001) + be16(0x880b) + be16(len(ppp)) + be16(0x4000) + be32(1) + ppp),
        '4in6': ipv6(4, INNER),
        'vxlan': ipv4(17, vxlan(1111, eth(0x0800, INNER))),
        'teredo': ipv4(17, udp(3797, 3544, bytes([0, 1, 0, 0]) + bytes(9) + origin + v6)),
        'l2tp': ipv4(17, udp(1701, 1701, be16(0x4a02) + be16(12 + len(ppp) + 4) + be16(5) + be16(9)
                             + be16(3) + be16(4) + be16(2) + bytes(2) + ppp)),
    }
    for name, p in wholes.items():
        ethertype = 0x86dd if p[0] >> 4 == 6 else 0x0800
        seed(f'{name}-whole', eth(ethertype, p))
        outer_l4 = 14 + (40 if ethertype == 0x86dd else 20)
        frame = eth(ethertype, p)
        for n in range(outer_l4, len(frame) - 12):
            seed(f'{name}-cut-{n}', frame[:n], cut=1)


if len(sys.argv) <= 2:
    tunnel_seeds()
