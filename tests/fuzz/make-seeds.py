#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/):
a few well-formed inputs each, so the fuzzer starts past the first
checks. Run from anywhere; rewrites the files in place (they are small
and committed). The files named by a SHA-1 beside them are not written
here: libFuzzer's -merge=1 of a campaign's corpus over these seeds kept
them (each added coverage), so that short runs (CI's 30 s) start where
the campaign got to."""
import os, struct

here = os.path.dirname(os.path.abspath(__file__))

def hdr(t, body, flags=0, method=0, target=0, corr=0):
    return struct.pack('<IBBHIQ', 16 + len(body), t, flags, method, target, corr) + body

def hello(version=2, incarnation=0x1234):
    b = struct.pack('<IHHI', 0x45505254, version, 0, 10 << 20)
    return b + struct.pack('<Q', incarnation) if version >= 2 else b

def resolve(ep=b'node', gw=b'tnode', fp=0x1234, nm=5):
    return struct.pack('<H', len(ep)) + ep + struct.pack('<H', len(gw)) + gw + struct.pack('<QH', fp, nm)

def err(code, msg):
    return struct.pack('<iI', code, len(msg)) + msg

def s(v):
    return struct.pack('<I', len(v)) + v

NULLSTR = struct.pack('<I', 0xFFFFFFFF)
leaf = (b'\x01' + b'\x80' + struct.pack('<H', 7) + s(b'hello') + struct.pack('<i', -5)
        + struct.pack('<f', 1.5) + s(b'\x00\xff') + struct.pack('<Q', 2**63) + struct.pack('<d', -0.0)
        + b'\x09' + struct.pack('<h', -2) + struct.pack('<I', 3) + struct.pack('<q', -1))
corpora = {
    'frame': [hello(), hello(1), hello(3), resolve(), err(-1017, b'protocol error'), err(0, b''),
              hdr(6, b'\x00' * 20, 1, 1, 0, 99)[:20], hdr(9, b'')],
    'values': [bytes([i]) + v for i, v in [
        (0, b''), (1, b'\x01'), (2, b'\x7f'), (3, b'\x00\x80'), (4, struct.pack('<i', -1)),
        (5, struct.pack('<q', 42)), (6, b'\xff'), (7, b'\x01\x00'), (8, b'\x00' * 4), (9, b'\x01' * 8),
        (10, struct.pack('<f', 3.25)), (11, struct.pack('<d', 1e300)), (12, s(b'text')), (12, NULLSTR),
        (13, s(b'')), (13, s(bytes(range(40)))), (14, leaf), (15, leaf + s(b'tag') + leaf + s(b'\x01')),
        (16, NULLSTR)]],
    'address': [b'troupe://127.0.0.1:5000/node', b'127.0.0.1:0', b'[::1]:65535', b'localhost:1',
                b'troupe://[fe80::1]:7/a/b', b'local://calc', b'calc'],
    # server: first byte bit 0 = a valid HELLO and RESOLVE of tnode first
    'server': [b'\x00' + hdr(1, hello()),
               b'\x01' + hdr(6, struct.pack('<I', 1000) + struct.pack('<q', 5), 0, 1, 0, 7),
               b'\x01' + hdr(5, s(b'sunk'), 0, 2, 0) + hdr(6, struct.pack('<I', 1000) + struct.pack('<Q', 1), 0, 3, 0, 8),
               b'\x01' + hdr(6, struct.pack('<I', 1000) + s(b'echo me'), 0, 0, 0, 9),
               b'\x01' + hdr(6, b'\x00' * 16 + struct.pack('<I', 1000) + struct.pack('<q', 5), 1, 1, 0, 10),
               b'\x01' + hdr(9, b'', corr=3) + hdr(11, err(0, b'bye')),
               b'\x01' + hdr(5, b'\x00' * 5000, 0, 2, 0)],
    # handshake: what a fake server says to a connecting client
    'handshake': [b'\x00' + hdr(2, hello()),
                  b'\x00' + hdr(2, hello(3)),
                  b'\x00' + hdr(11, err(-1013, b'versions differ')),
                  b'\x01' + hdr(4, struct.pack('<I', 0), corr=0x8000000000000001),
                  b'\x01' + hdr(8, err(-1014, b'no such endpoint'), corr=0x8000000000000001),
                  b'\x01' + hdr(4, struct.pack('<I', 0), corr=0x8000000000000001) + hdr(7, struct.pack('<q', 7), corr=1)],
}
for name, inputs in corpora.items():
    d = os.path.join(here, 'corpus', name)
    os.makedirs(d, exist_ok=True)
    for i, data in enumerate(inputs):
        with open(os.path.join(d, 'seed%02d' % i), 'wb') as f:
            f.write(data)
