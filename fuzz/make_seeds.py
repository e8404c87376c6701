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
# decode_packet's LINKTYPES order.
SELECTOR = {1: 0, 0: 1, 108: 2, 101: 3, 12: 4, 14: 5, 228: 6, 229: 7, 113: 8, 276: 9, 147: 10}
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
