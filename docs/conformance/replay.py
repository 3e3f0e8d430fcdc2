#!/usr/bin/env python3
"""Replays Agentix conformance transcripts (docs/conformance/*.json) against a server.

A client of the Agentix wire protocol written from docs/protocol.md alone, in
Python 3 with nothing but the standard library: its own msgpack reader and
writer, its own RFC 6455 WebSocket client, and the transcript format of
docs/conformance/README.md. Use it to check a server, or read it as an example
of a client in a language other than TypeScript.

    python3 replay.py --serve "npx agentix serve fixtures/conformance --port 0 --no-gen"
    python3 replay.py --url ws://127.0.0.1:8000 --token T docs/conformance/call-*.json
    python3 replay.py --self-test

Exit status: 0 when every transcript replayed passed, 1 otherwise.
"""

import argparse
import base64
import hashlib
import http.client
import json
import math
import os
import queue
import re
import secrets
import shlex
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

sys.setrecursionlimit(20000)

DEFAULT_WITHIN_MS = 5000
SETTLE_MS = 150
DEFAULT_HEADERS = {"Authorization": "Bearer {token}"}

# --------------------------------------------------------------------------- msgpack


INT_RANGES = {
    "fixint": (-32, 127),
    "u8": (0, 0xFF),
    "u16": (0, 0xFFFF),
    "u32": (0, 0xFFFFFFFF),
    "u64": (0, 0xFFFFFFFFFFFFFFFF),
    "i8": (-0x80, 0x7F),
    "i16": (-0x8000, 0x7FFF),
    "i32": (-0x80000000, 0x7FFFFFFF),
    "i64": (-0x8000000000000000, 0x7FFFFFFFFFFFFFFF),
}


def fits(v, enc):
    lo, hi = INT_RANGES[enc]
    return lo <= v <= hi


def shortest_int(v):
    if fits(v, "fixint"):
        return "fixint"
    for enc in ("u8", "u16", "u32", "u64") if v >= 0 else ("i8", "i16", "i32", "i64"):
        if fits(v, enc):
            return enc
    raise ValueError("integer %d does not fit in 64 bits" % v)


class W:
    """A decoded msgpack value that keeps its wire form.

    t is one of nil bool int float str bin ext array map; v is the value
    (bytes for str and bin, (type, data) for ext, a list of W for array, a
    list of (W, W) for map); enc is the integer or float encoding.
    """

    __slots__ = ("t", "v", "enc")

    def __init__(self, t, v=None, enc=None):
        self.t, self.v, self.enc = t, v, enc


class DecodeError(Exception):
    pass


def decode(buf):
    """One msgpack value that must fill buf exactly (a frame holds one message)."""
    value, pos = _read(memoryview(buf), 0)
    if pos != len(buf):
        raise DecodeError("%d bytes left over after the message" % (len(buf) - pos))
    return value


def _take(buf, pos, n):
    if pos + n > len(buf):
        raise DecodeError("truncated at byte %d: need %d more" % (pos, n))
    return bytes(buf[pos:pos + n]), pos + n


def _read(buf, pos):
    if pos >= len(buf):
        raise DecodeError("truncated at byte %d" % pos)
    c = buf[pos]
    pos += 1
    if c <= 0x7F:
        return W("int", c, "fixint"), pos
    if c >= 0xE0:
        return W("int", c - 0x100, "fixint"), pos
    if 0x80 <= c <= 0x8F:
        return _read_map(buf, pos, c & 0x0F)
    if 0x90 <= c <= 0x9F:
        return _read_array(buf, pos, c & 0x0F)
    if 0xA0 <= c <= 0xBF:
        data, pos = _take(buf, pos, c & 0x1F)
        return W("str", data), pos
    if c == 0xC0:
        return W("nil"), pos
    if c == 0xC2:
        return W("bool", False), pos
    if c == 0xC3:
        return W("bool", True), pos
    sized = {0xC4: ("bin", 1), 0xC5: ("bin", 2), 0xC6: ("bin", 4), 0xD9: ("str", 1), 0xDA: ("str", 2), 0xDB: ("str", 4)}
    if c in sized:
        t, width = sized[c]
        raw, pos = _take(buf, pos, width)
        data, pos = _take(buf, pos, int.from_bytes(raw, "big"))
        return W(t, data), pos
    if c in (0xC7, 0xC8, 0xC9):
        raw, pos = _take(buf, pos, {0xC7: 1, 0xC8: 2, 0xC9: 4}[c])
        return _read_ext(buf, pos, int.from_bytes(raw, "big"))
    if c in (0xD4, 0xD5, 0xD6, 0xD7, 0xD8):
        return _read_ext(buf, pos, {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}[c])
    if c == 0xCA:
        raw, pos = _take(buf, pos, 4)
        return W("float", struct.unpack(">f", raw)[0], "f32"), pos
    if c == 0xCB:
        raw, pos = _take(buf, pos, 8)
        return W("float", struct.unpack(">d", raw)[0], "f64"), pos
    ints = {0xCC: ("u8", 1, False), 0xCD: ("u16", 2, False), 0xCE: ("u32", 4, False), 0xCF: ("u64", 8, False),
            0xD0: ("i8", 1, True), 0xD1: ("i16", 2, True), 0xD2: ("i32", 4, True), 0xD3: ("i64", 8, True)}
    if c in ints:
        enc, width, signed = ints[c]
        raw, pos = _take(buf, pos, width)
        return W("int", int.from_bytes(raw, "big", signed=signed), enc), pos
    if c in (0xDC, 0xDD):
        raw, pos = _take(buf, pos, 2 if c == 0xDC else 4)
        return _read_array(buf, pos, int.from_bytes(raw, "big"))
    if c in (0xDE, 0xDF):
        raw, pos = _take(buf, pos, 2 if c == 0xDE else 4)
        return _read_map(buf, pos, int.from_bytes(raw, "big"))
    raise DecodeError("byte 0x%02x at %d is not a msgpack type" % (c, pos - 1))


def _read_ext(buf, pos, n):
    raw, pos = _take(buf, pos, 1)
    ext_type = struct.unpack(">b", raw)[0]
    data, pos = _take(buf, pos, n)
    return W("ext", (ext_type, data)), pos


def _read_array(buf, pos, n):
    items = []
    for _ in range(n):
        item, pos = _read(buf, pos)
        items.append(item)
    return W("array", items), pos


def _read_map(buf, pos, n):
    pairs = []
    for _ in range(n):
        k, pos = _read(buf, pos)
        v, pos = _read(buf, pos)
        pairs.append((k, v))
    return W("map", pairs), pos


def _length(n, fix_base, fix_max, codes):
    """The header of a str/bin/array/map/ext of length n."""
    if fix_base is not None and n <= fix_max:
        return bytes([fix_base | n])
    c8, c16, c32 = codes
    if c8 is not None and n <= 0xFF:
        return bytes([c8, n])
    if n <= 0xFFFF:
        return bytes([c16]) + n.to_bytes(2, "big")
    if n <= 0xFFFFFFFF:
        return bytes([c32]) + n.to_bytes(4, "big")
    raise ValueError("length %d exceeds msgpack's 2^32-1" % n)


def encode_int(v, enc):
    if not fits(v, enc):
        raise ValueError("integer %d does not fit %s" % (v, enc))
    if enc == "fixint":
        return bytes([v & 0xFF])
    code, width, signed = {"u8": (0xCC, 1, False), "u16": (0xCD, 2, False), "u32": (0xCE, 4, False), "u64": (0xCF, 8, False),
                           "i8": (0xD0, 1, True), "i16": (0xD1, 2, True), "i32": (0xD2, 4, True), "i64": (0xD3, 8, True)}[enc]
    return bytes([code]) + v.to_bytes(width, "big", signed=signed)


def encode_str(data):
    return _length(len(data), 0xA0, 31, (0xD9, 0xDA, 0xDB)) + data


def encode_bin(data):
    return _length(len(data), None, 0, (0xC4, 0xC5, 0xC6)) + data


def encode_ext(ext_type, data):
    fixed = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}.get(len(data))
    head = bytes([fixed]) if fixed else _length(len(data), None, 0, (0xC7, 0xC8, 0xC9))
    return head + struct.pack(">b", ext_type) + data


def array_header(n):
    return _length(n, 0x90, 15, (None, 0xDC, 0xDD))


def map_header(n):
    return _length(n, 0x80, 15, (None, 0xDE, 0xDF))


# --------------------------------------------------------------------------- the transcript notation


class NotationError(Exception):
    pass


VALUE_TAGS = {"$int": ("as",), "$f64": (), "$f32": (), "$bin": (), "$ext": ("hex",), "$undefined": (), "$strhex": (),
              "$map": (), "$timestamp": (), "$raw": (), "$array_of": ("count",)}
PATTERN_TAGS = {"$int": ("as",), "$f64": (), "$f32": (), "$bin": (), "$ext": ("hex",), "$undefined": (), "$strhex": (),
                "$map": (), "$timestamp": (), "$array_of": ("count",), "$any": (), "$regex": (), "$has": (), "$oneOf": (),
                "$absent": (), "$bigext": ()}
ANY_KINDS = ("value", "nil", "bool", "int", "float", "number", "string", "bin", "ext", "array", "map")
SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "-0": -0.0}
MAX_SAFE = 2 ** 53 - 1


def tag_of(x, at, allowed):
    tags = [k for k in x if k.startswith("$")]
    if not tags:
        return None
    if len(tags) > 1:
        raise NotationError('%s: more than one $-key (%s); a map with $-keys is written {"$map": [[k, v], ...]}' % (at, ", ".join(tags)))
    tag = tags[0]
    if tag not in allowed:
        raise NotationError("%s: unknown tag %s" % (at, tag))
    for k in x:
        if k != tag and k not in allowed[tag]:
            raise NotationError('%s: %s takes no key "%s"' % (at, tag, k))
    return tag


def hex_bytes(x, at):
    if not isinstance(x, str) or not re.fullmatch(r"(?:[0-9a-fA-F]{2}|\s)*", x):
        raise NotationError("%s: expected a hex string, got %r" % (at, x))
    return bytes.fromhex(re.sub(r"\s+", "", x))


def utf8(s, at):
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        raise NotationError('%s: a string with a lone surrogate has no UTF-8 form; write its bytes with {"$strhex": ...}' % at)


def plain_int(x, at):
    if isinstance(x, bool) or not isinstance(x, int) or abs(x) > MAX_SAFE:
        raise NotationError('%s: a plain number must be an integer literal within +-(2^53-1), got %r; write floats as {"$f64": x} and big integers as {"$int": "digits"}' % (at, x))
    return x


def big_int(x, at):
    if isinstance(x, int) and not isinstance(x, bool):
        return plain_int(x, at)
    if not isinstance(x, str) or not re.fullmatch(r"-?\d+", x):
        raise NotationError("%s: $int takes decimal digits as a string, got %r" % (at, x))
    return int(x)


def int_encs(x, at):
    if x is None:
        return None
    encs = x if isinstance(x, list) else [x]
    if not encs or any(e not in INT_RANGES for e in encs):
        raise NotationError('%s: "as" must name encodings among %s, got %r' % (at, ", ".join(INT_RANGES), x))
    return encs


def float_of(x, at):
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    if isinstance(x, str) and x in SPECIAL_FLOATS:
        return SPECIAL_FLOATS[x]
    raise NotationError('%s: a float is a JSON number or one of "NaN", "Infinity", "-Infinity", "-0"; got %r' % (at, x))


def count_of(x, at):
    if isinstance(x, bool) or not isinstance(x, int) or x < 0:
        raise NotationError('%s: "count" must be a non-negative integer' % at)
    return x


def ext_type_of(x, at):
    if isinstance(x, bool) or not isinstance(x, int) or not -128 <= x <= 127:
        raise NotationError("%s: an ext type is an integer from -128 to 127" % at)
    return x


def null_arg(x, at, tag):
    if x is not None:
        raise NotationError("%s: %s takes null" % (at, tag))


def pairs_of(x, at):
    if not isinstance(x, list) or not all(isinstance(p, list) and len(p) == 2 for p in x):
        raise NotationError("%s: $map takes a list of [key, value] pairs" % at)
    return x


def timestamp_data(x, at):
    if not isinstance(x, dict) or sorted(x) != ["nsec", "sec"]:
        raise NotationError('%s: $timestamp takes {"sec": ..., "nsec": ...}' % at)
    sec, nsec = big_int(x["sec"], at + ".sec"), big_int(x["nsec"], at + ".nsec")
    if not 0 <= nsec <= 999999999:
        raise NotationError("%s: nsec must be 0...999999999" % at)
    if nsec == 0 and 0 <= sec <= 0xFFFFFFFF:
        return sec.to_bytes(4, "big")
    if 0 <= sec < 1 << 34:
        return ((nsec << 34) | sec).to_bytes(8, "big")
    return nsec.to_bytes(4, "big") + sec.to_bytes(8, "big", signed=True)


def timestamp_of(data):
    if len(data) == 4:
        return int.from_bytes(data, "big"), 0
    if len(data) == 8:
        v = int.from_bytes(data, "big")
        return v & ((1 << 34) - 1), v >> 34
    if len(data) == 12:
        return int.from_bytes(data[4:], "big", signed=True), int.from_bytes(data[:4], "big")
    return None


def encode_value(x, at="$"):
    """The exact msgpack bytes of a transcript value."""
    if x is None:
        return b"\xc0"
    if x is True:
        return b"\xc3"
    if x is False:
        return b"\xc2"
    if isinstance(x, (int, float)):
        v = plain_int(x, at)
        return encode_int(v, shortest_int(v))
    if isinstance(x, str):
        return encode_str(utf8(x, at))
    if isinstance(x, list):
        return array_header(len(x)) + b"".join(encode_value(item, "%s[%d]" % (at, i)) for i, item in enumerate(x))
    if not isinstance(x, dict):
        raise NotationError("%s: not a transcript value: %r" % (at, x))
    tag = tag_of(x, at, VALUE_TAGS)
    if tag is None:
        return map_header(len(x)) + b"".join(encode_str(utf8(k, at + " key")) + encode_value(v, "%s.%s" % (at, k)) for k, v in x.items())
    arg = x[tag]
    if tag == "$int":
        v = big_int(arg, at)
        encs = int_encs(x.get("as"), at)
        if encs and len(encs) != 1:
            raise NotationError('%s: to send, "as" names one encoding' % at)
        enc = encs[0] if encs else shortest_int(v)
        if not fits(v, enc):
            raise NotationError("%s: %d does not fit %s" % (at, v, enc))
        return encode_int(v, enc)
    if tag == "$f64":
        return b"\xcb" + struct.pack(">d", float_of(arg, at))
    if tag == "$f32":
        return b"\xca" + struct.pack(">f", float_of(arg, at))
    if tag == "$bin":
        return encode_bin(hex_bytes(arg, at))
    if tag == "$ext":
        return encode_ext(ext_type_of(arg, at), hex_bytes(x.get("hex"), at))
    if tag == "$undefined":
        null_arg(arg, at, tag)
        return b"\xd4\x00\x00"
    if tag == "$strhex":
        return encode_str(hex_bytes(arg, at))
    if tag == "$map":
        pairs = pairs_of(arg, at)
        return map_header(len(pairs)) + b"".join(encode_value(k, "%s[%d][0]" % (at, i)) + encode_value(v, "%s[%d][1]" % (at, i)) for i, (k, v) in enumerate(pairs))
    if tag == "$timestamp":
        return encode_ext(-1, timestamp_data(arg, at))
    if tag == "$raw":
        return hex_bytes(arg, at)
    if tag == "$array_of":
        n = count_of(x.get("count"), at)
        return array_header(n) + encode_value(arg, at + ".$array_of") * n
    raise NotationError("%s: %s cannot be sent" % (at, tag))


def check_pattern(p, at="$"):
    """Raises NotationError where a pattern is malformed."""
    if p is None or isinstance(p, bool):
        return
    if isinstance(p, (int, float)):
        plain_int(p, at)
        return
    if isinstance(p, str):
        utf8(p, at)
        return
    if isinstance(p, list):
        for i, q in enumerate(p):
            check_pattern(q, "%s[%d]" % (at, i))
        return
    if not isinstance(p, dict):
        raise NotationError("%s: not a pattern: %r" % (at, p))
    tag = tag_of(p, at, PATTERN_TAGS)
    if tag is None:
        for k, v in p.items():
            utf8(k, at + " key")
            check_pattern(v, "%s.%s" % (at, k))
        return
    arg = p[tag]
    if tag == "$int":
        big_int(arg, at)
        int_encs(p.get("as"), at)
    elif tag in ("$f64", "$f32"):
        float_of(arg, at)
    elif tag in ("$bin", "$strhex"):
        hex_bytes(arg, at)
    elif tag == "$ext":
        ext_type_of(arg, at)
        hex_bytes(p.get("hex"), at)
    elif tag in ("$undefined", "$absent"):
        null_arg(arg, at, tag)
    elif tag == "$bigext":
        big_int(arg, at)
    elif tag == "$timestamp":
        timestamp_data(arg, at)
    elif tag == "$map":
        for i, (k, v) in enumerate(pairs_of(arg, at)):
            check_pattern(k, "%s[%d][0]" % (at, i))
            check_pattern(v, "%s[%d][1]" % (at, i))
    elif tag == "$array_of":
        count_of(p.get("count"), at)
        check_pattern(arg, at + ".$array_of")
    elif tag == "$any":
        if arg not in ANY_KINDS:
            raise NotationError("%s: $any takes one of %s" % (at, ", ".join(ANY_KINDS)))
    elif tag == "$regex":
        if not isinstance(arg, str):
            raise NotationError("%s: $regex takes a string" % at)
        re.compile(arg)
    elif tag == "$has":
        if not isinstance(arg, dict):
            raise NotationError("%s: $has takes an object of key -> pattern" % at)
        for k, v in arg.items():
            check_pattern(v, "%s.%s" % (at, k))
    elif tag == "$oneOf":
        if not isinstance(arg, list) or not arg:
            raise NotationError("%s: $oneOf takes a non-empty list of patterns" % at)
        for i, q in enumerate(arg):
            check_pattern(q, "%s.$oneOf[%d]" % (at, i))


def str_of(w):
    if w.t != "str":
        return None
    try:
        return w.v.decode("utf-8")
    except UnicodeDecodeError:
        return None


def string_keyed(w):
    """The map as {key: value} when its keys are unique UTF-8 strings, else a reason it is not."""
    if w.t != "map":
        return "expected a map, got %s" % render(w)
    out = {}
    for k, v in w.v:
        key = str_of(k)
        if key is None:
            return "map key %s is not a UTF-8 string" % render(k)
        if key in out:
            return 'map key "%s" appears twice' % key
        out[key] = v
    return out


def twos_complement(data):
    return int.from_bytes(data, "big", signed=True)


def is_absent(p):
    return isinstance(p, dict) and "$absent" in p


def match(p, w, at="$"):
    """None when w matches pattern p; else what differs, and where."""
    def differ(what):
        return "%s: expected %s, got %s" % (at, what, render(w))
    if p is None:
        return None if w.t == "nil" else differ("nil")
    if isinstance(p, bool):
        return None if w.t == "bool" and w.v is p else differ(json.dumps(p))
    if isinstance(p, int):
        return None if w.t == "int" and w.v == p else differ("the integer %d" % p)
    if isinstance(p, str):
        return None if w.t == "str" and w.v == p.encode("utf-8") else differ(json.dumps(p, ensure_ascii=False))
    if isinstance(p, list):
        if w.t != "array" or len(w.v) != len(p):
            return differ("an array of %d" % len(p))
        for i, (q, item) in enumerate(zip(p, w.v)):
            why = match(q, item, "%s[%d]" % (at, i))
            if why:
                return why
        return None
    tag = next((k for k in p if k.startswith("$")), None)
    if tag is None:
        return match_map(p, w, at, exact=True)
    arg = p[tag]
    if tag == "$int":
        encs = int_encs(p.get("as"), at)
        if w.t != "int" or w.v != big_int(arg, at):
            return differ("the integer %s" % arg)
        return differ("the integer %s encoded as %s" % (arg, " or ".join(encs))) if encs and w.enc not in encs else None
    if tag in ("$f64", "$f32"):
        enc = tag[1:]
        want = float_of(arg, at)
        if enc == "f32":
            want = struct.unpack(">f", struct.pack(">f", want))[0]
        if w.t != "float" or w.enc != enc:
            return differ("a %s %s" % (enc, arg))
        same = (math.isnan(want) and math.isnan(w.v)) or (want == w.v and math.copysign(1, want) == math.copysign(1, w.v))
        return None if same else differ("a %s %s" % (enc, arg))
    if tag == "$bin":
        return None if w.t == "bin" and w.v == hex_bytes(arg, at) else differ("bin %s" % arg)
    if tag == "$ext":
        return None if w.t == "ext" and w.v == (arg, hex_bytes(p.get("hex"), at)) else differ("ext %s %s" % (arg, p.get("hex")))
    if tag == "$undefined":
        return None if w.t == "ext" and w.v == (0, b"\x00") else differ("undefined (d4 00 00)")
    if tag == "$strhex":
        return None if w.t == "str" and w.v == hex_bytes(arg, at) else differ("a string of bytes %s" % arg)
    if tag == "$timestamp":
        got = timestamp_of(w.v[1]) if w.t == "ext" and w.v[0] == -1 else None
        return None if got == (big_int(arg["sec"], at), big_int(arg["nsec"], at)) else differ("a timestamp %s" % json.dumps(arg))
    if tag == "$bigext":
        want = big_int(arg, at)
        ok = w.t == "ext" and w.v[0] == 0x42 and len(w.v[1]) > 0 and twos_complement(w.v[1]) == want
        return None if ok else differ("ext 0x42 holding %d" % want)
    if tag == "$map":
        if w.t != "map" or len(w.v) != len(arg):
            return differ("a map of %d pairs" % len(arg))
        for i, ((kp, vp), (k, v)) in enumerate(zip(arg, w.v)):
            why = match(kp, k, "%s{#%d key}" % (at, i)) or match(vp, v, "%s{#%d}" % (at, i))
            if why:
                return why
        return None
    if tag == "$array_of":
        n = p["count"]
        if w.t != "array" or len(w.v) != n:
            return differ("an array of %d" % n)
        for i, item in enumerate(w.v):
            why = match(arg, item, "%s[%d]" % (at, i))
            if why:
                return why
        return None
    if tag == "$any":
        ok = {"value": True, "number": w.t in ("int", "float"), "string": w.t == "str"}.get(arg, w.t == arg)
        return None if ok else differ("any %s" % arg)
    if tag == "$regex":
        s = str_of(w)
        return None if s is not None and re.search(arg, s) else differ("a string matching /%s/" % arg)
    if tag == "$has":
        return match_map(arg, w, at, exact=False)
    if tag == "$absent":
        return differ("no value (the key absent)")
    if tag == "$oneOf":
        whys = [match(q, w, at) for q in arg]
        return None if any(x is None for x in whys) else "%s: none of $oneOf matched (%s)" % (at, "; ".join(whys))
    raise NotationError("%s: unknown tag %s" % (at, tag))


def match_map(pattern, w, at, exact):
    got = string_keyed(w)
    if isinstance(got, str):
        return "%s: %s" % (at, got)
    for k, q in pattern.items():
        if is_absent(q):
            if k in got:
                return '%s: key "%s" should be absent, got %s' % (at, k, render(got[k]))
            continue
        if k not in got:
            return '%s: key "%s" missing in %s' % (at, k, render(w))
        why = match(q, got[k], "%s.%s" % (at, k))
        if why:
            return why
    if exact:
        extra = [k for k in got if k not in pattern]
        if extra:
            return "%s: unexpected key(s) %s in %s" % (at, ", ".join('"%s"' % k for k in extra), render(w))
    return None


def to_notation(w):
    if w.t == "nil":
        return None
    if w.t == "bool":
        return w.v
    if w.t == "int":
        return w.v if w.enc == shortest_int(w.v) and abs(w.v) <= MAX_SAFE else {"$int": str(w.v), "as": w.enc}
    if w.t == "float":
        if math.isnan(w.v):
            return {"$" + w.enc: "NaN"}
        if math.isinf(w.v):
            return {"$" + w.enc: "Infinity" if w.v > 0 else "-Infinity"}
        if w.v == 0 and math.copysign(1, w.v) < 0:
            return {"$" + w.enc: "-0"}
        return {"$" + w.enc: w.v}
    if w.t == "str":
        s = str_of(w)
        return s if s is not None else {"$strhex": w.v.hex()}
    if w.t == "bin":
        return {"$bin": w.v.hex()}
    if w.t == "ext":
        return {"$undefined": None} if w.v == (0, b"\x00") else {"$ext": w.v[0], "hex": w.v[1].hex()}
    if w.t == "array":
        return [to_notation(x) for x in w.v]
    keyed = string_keyed(w)
    if isinstance(keyed, dict):
        return {k: to_notation(v) for k, v in keyed.items()}
    return {"$map": [[to_notation(k), to_notation(v)] for k, v in w.v]}


def render(w, limit=400):
    s = json.dumps(to_notation(w), ensure_ascii=False, separators=(",", ":"))
    return s if len(s) <= limit else s[:limit] + "..."


def from_json(x):
    """A JSON value (an HTTP body) as a decoded msgpack value, so one pattern language serves both."""
    if x is None:
        return W("nil")
    if isinstance(x, bool):
        return W("bool", x)
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) <= MAX_SAFE):
        return W("int", int(x), shortest_int(int(x)))
    if isinstance(x, float):
        return W("float", x, "f64")
    if isinstance(x, str):
        return W("str", x.encode("utf-8", "surrogatepass"))
    if isinstance(x, list):
        return W("array", [from_json(v) for v in x])
    return W("map", [(W("str", k.encode("utf-8", "surrogatepass")), from_json(v)) for k, v in x.items()])


def assignable(frames, group):
    """Whether every frame can be given its own pattern of the group (a bipartite matching)."""
    fits_ = [[match(p, f) is None for p in group] for f in frames]
    owner = [-1] * len(group)

    def place(i, seen):
        for j in range(len(group)):
            if fits_[i][j] and not seen[j]:
                seen[j] = True
                if owner[j] == -1 or place(owner[j], seen):
                    owner[j] = i
                    return True
        return False
    return all(place(i, [False] * len(group)) for i in range(len(frames)))


# --------------------------------------------------------------------------- loading transcripts


class TranscriptError(Exception):
    pass


STEP_KINDS = ("connect", "send", "expect", "quiet", "close", "expectClose", "http", "sleep", "signal", "pause", "resume")


def _fail(at, why):
    raise TranscriptError("%s: %s" % (at, why))


def _keys_only(x, allowed, at):
    for k in x:
        if k not in allowed:
            _fail(at, 'unknown key "%s" (allowed: %s)' % (k, ", ".join(allowed)))


def _nonempty_str(x, at):
    if not isinstance(x, str) or not x:
        _fail(at, "expected a non-empty string, got %r" % (x,))
    return x


def _non_neg_int(x, at):
    if isinstance(x, bool) or not isinstance(x, int) or x < 0:
        _fail(at, "expected a non-negative integer, got %r" % (x,))
    return x


def _pattern(x, at):
    try:
        check_pattern(x, at)
    except (NotationError, re.error) as err:
        _fail(at, str(err))
    return x


def _headers(x, at):
    if not isinstance(x, dict) or not all(isinstance(v, str) for v in x.values()):
        _fail(at, "headers are an object of name -> string")
    return x


def _header_patterns(x, at):
    if not isinstance(x, dict):
        _fail(at, "expected headers are an object of name -> pattern or null")
    for k, v in x.items():
        if v is not None:
            _pattern(v, "%s.%s" % (at, k))
    return {k.lower(): v for k, v in x.items()}


def _http_expect(x, at):
    if not isinstance(x, dict):
        _fail(at, "expected {status, headers?, json?, body?}")
    _keys_only(x, ("status", "headers", "json", "body"), at)
    if "json" in x and "body" in x:
        _fail(at, "give json or body, not both")
    out = {"status": _non_neg_int(x.get("status"), at + ".status")}
    if "headers" in x:
        out["headers"] = _header_patterns(x["headers"], at + ".headers")
    for k in ("json", "body"):
        if k in x:
            out[k] = _pattern(x[k], "%s.%s" % (at, k))
    return out


def _log_mode(x, at, default):
    if x is None:
        return default
    if x not in ("skip", "strict"):
        _fail(at, 'logs is "skip" or "strict", got %r' % (x,))
    return x


def _slots(x, at):
    if not isinstance(x, list) or not x:
        _fail(at, 'frames is a non-empty list (to expect silence, use a "quiet" step)')

    def expand(item, where):
        if isinstance(item, dict) and "$repeat" in item:
            _keys_only(item, ("$repeat", "count"), where)
            n = _non_neg_int(item.get("count"), where + ".count")
            if n == 0:
                _fail(where, "$repeat count must be at least 1")
            return [_pattern(item["$repeat"], where + ".$repeat")] * n
        if isinstance(item, dict) and "$unordered" in item:
            _fail(where, "$unordered cannot be nested")
        return [_pattern(item, where)]
    out = []
    for i, item in enumerate(x):
        where = "%s[%d]" % (at, i)
        if isinstance(item, dict) and "$unordered" in item:
            _keys_only(item, ("$unordered",), where)
            group = item["$unordered"]
            if not isinstance(group, list) or not group:
                _fail(where, "$unordered takes a non-empty list")
            out.append(("group", [p for j, q in enumerate(group) for p in expand(q, "%s.$unordered[%d]" % (where, j))]))
        else:
            out.extend(("one", p) for p in expand(item, where))
    return out


def _payload(x, at):
    given = [k for k in ("frame", "hex", "text") if k in x]
    if len(given) != 1:
        _fail(at, "a send step gives exactly one of frame, hex, text")
    if "text" in x:
        if not isinstance(x["text"], str):
            _fail(at, "text is a string")
        return ("text", x["text"].encode("utf-8"))
    try:
        if "hex" in x:
            return ("binary", hex_bytes(x["hex"], at + ".hex"))
        return ("binary", encode_value(x["frame"], at + ".frame"))
    except (NotationError, ValueError) as err:
        _fail(at, str(err))


def parse_step(x, at, default_logs, conns):
    if not isinstance(x, dict):
        _fail(at, "a step is an object")
    kinds = [k for k in STEP_KINDS if k in x]
    if len(kinds) != 1:
        _fail(at, "a step has exactly one of %s (got %s)" % (", ".join(STEP_KINDS), ", ".join(kinds) or "none"))
    kind = kinds[0]

    def conn(key):
        name = _nonempty_str(x[key], "%s.%s" % (at, key))
        if kind == "connect":
            if name in conns:
                _fail(at, 'connection "%s" is already opened' % name)
            if "refused" not in x:
                conns.add(name)
        elif name not in conns:
            _fail(at, 'connection "%s" is not opened by an earlier connect step' % name)
        return name
    s = {"kind": kind}
    if kind == "connect":
        _keys_only(x, ("connect", "path", "headers", "refused", "response"), at)
        s.update(conn=conn("connect"), path=_nonempty_str(x["path"], at + ".path") if "path" in x else "/",
                 headers=_headers(x["headers"], at + ".headers") if "headers" in x else dict(DEFAULT_HEADERS))
        if "refused" in x and "response" in x:
            _fail(at, "a connect step is refused or has a response, not both")
        if "refused" in x:
            s["refused"] = _http_expect(x["refused"], at + ".refused")
        if "response" in x:
            r = x["response"]
            if not isinstance(r, dict):
                _fail(at + ".response", "expected {headers}")
            _keys_only(r, ("headers",), at + ".response")
            s["response_headers"] = _header_patterns(r.get("headers"), at + ".response.headers")
    elif kind == "send":
        _keys_only(x, ("send", "frame", "hex", "text", "repeat"), at)
        s.update(conn=conn("send"), payload=_payload(x, at), repeat=_non_neg_int(x.get("repeat", 1), at + ".repeat"))
    elif kind == "expect":
        _keys_only(x, ("expect", "frames", "logs", "within"), at)
        s.update(conn=conn("expect"), slots=_slots(x.get("frames"), at + ".frames"), logs=_log_mode(x.get("logs"), at + ".logs", default_logs),
                 within=_non_neg_int(x.get("within", DEFAULT_WITHIN_MS), at + ".within"))
    elif kind == "quiet":
        _keys_only(x, ("quiet", "ms", "logs"), at)
        s.update(conn=conn("quiet"), ms=_non_neg_int(x.get("ms"), at + ".ms"), logs=_log_mode(x.get("logs"), at + ".logs", default_logs))
    elif kind == "close":
        _keys_only(x, ("close",), at)
        s.update(conn=conn("close"))
    elif kind == "expectClose":
        _keys_only(x, ("expectClose", "code", "reason", "logs", "within", "skipFrames"), at)
        if "skipFrames" in x and not isinstance(x["skipFrames"], bool):
            _fail(at, "skipFrames is true or false")
        s.update(conn=conn("expectClose"), logs=_log_mode(x.get("logs"), at + ".logs", default_logs),
                 within=_non_neg_int(x.get("within", DEFAULT_WITHIN_MS), at + ".within"), skip_frames=x.get("skipFrames", False),
                 code=_non_neg_int(x["code"], at + ".code") if "code" in x else None,
                 reason=_pattern(x["reason"], at + ".reason") if "reason" in x else None, has_reason="reason" in x)
    elif kind == "http":
        _keys_only(x, ("http", "response"), at)
        h = x["http"]
        if not isinstance(h, dict):
            _fail(at + ".http", "expected {method, path, headers?}")
        _keys_only(h, ("method", "path", "headers"), at + ".http")
        s.update(method=_nonempty_str(h.get("method"), at + ".http.method"), path=_nonempty_str(h.get("path"), at + ".http.path"),
                 headers=_headers(h.get("headers", {}), at + ".http.headers"), expect=_http_expect(x.get("response"), at + ".response"))
    elif kind == "sleep":
        _keys_only(x, ("sleep",), at)
        s.update(ms=_non_neg_int(x["sleep"], at + ".sleep"))
    elif kind == "signal":
        _keys_only(x, ("signal",), at)
        if x["signal"] not in ("SIGTERM", "SIGINT"):
            _fail(at, 'signal is "SIGTERM" or "SIGINT"')
        s.update(signal=x["signal"])
    else:
        _keys_only(x, (kind,), at)
        s.update(conn=conn(kind))
    return s


def load_transcript(path):
    name = os.path.basename(path)
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            _fail(name, "not JSON: %s" % err)
    if not isinstance(data, dict):
        _fail(name, "a transcript is a JSON object")
    _keys_only(data, ("title", "doc", "discrepancy", "server", "logs", "steps"), name)
    t = {"name": name[:-5] if name.endswith(".json") else name, "file": path, "title": _nonempty_str(data.get("title"), name + ".title"),
         "doc": data.get("doc"), "discrepancy": data.get("discrepancy"), "logs": _log_mode(data.get("logs"), name + ".logs", "skip"), "server": None}
    if "server" in data:
        srv = data["server"]
        if not isinstance(srv, dict):
            _fail(name + ".server", "expected {env}")
        _keys_only(srv, ("env",), name + ".server")
        t["server"] = {"env": _headers(srv.get("env", {}), name + ".server.env")}
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        _fail(name + ".steps", "a non-empty list of steps")
    conns = set()
    t["steps"] = [parse_step(s, "%s.steps[%d]" % (name, i), t["logs"], conns) for i, s in enumerate(steps)]
    if any(s["kind"] == "signal" for s in t["steps"]) and t["server"] is None:
        _fail(name, 'a transcript with a signal step needs "server": {} (a server of its own)')
    checks = [s for s in t["steps"] if s["kind"] in ("expect", "expectClose", "http") or (s["kind"] == "connect" and ("refused" in s or "response_headers" in s))]
    if not checks:
        _fail(name, "a transcript checks nothing (no expect, expectClose, http, refused or response step)")
    return t


# --------------------------------------------------------------------------- WebSocket (RFC 6455) and HTTP


WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3


class Refused(Exception):
    """The upgrade was answered with an HTTP response other than 101."""

    def __init__(self, status, headers, body):
        super().__init__("HTTP %d %s" % (status, body[:200]))
        self.status, self.headers, self.body = status, headers, body


def _read_head(sock, deadline):
    """Reads an HTTP response head; returns (status, {lower-name: value}, bytes after the head)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection before answering")
        buf += chunk
        if len(buf) > 65536:
            raise ConnectionError("response head too long")
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        headers[k] = headers[k] + ", " + v.strip() if k in headers else v.strip()
    return status, headers, rest


def _read_body(sock, headers, rest, deadline):
    n = headers.get("content-length")
    body = rest
    while n is None or len(body) < int(n):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        body += chunk
    return body


def _mask(data, key):
    if not data:
        return data
    reps = key * (len(data) // 4 + 1)
    return (int.from_bytes(data, "big") ^ int.from_bytes(reps[:len(data)], "big")).to_bytes(len(data), "big")


def ws_frame(opcode, payload):
    """One masked client frame (RFC 6455 5.2), FIN set."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    key = secrets.token_bytes(4)
    return head + key + _mask(payload, key)


class Connection:
    """One WebSocket: a reader thread turns frames into events on a queue."""

    def __init__(self, name, host, port, path, headers, timeout=5.0):
        self.name = name
        self.events = queue.Queue()
        self.closed_by_us = False
        self.reading = threading.Event()
        self.reading.set()
        self.send_lock = threading.Lock()
        deadline = time.monotonic() + timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port), "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
        lines += ["%s: %s" % (k, v) for k, v in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        status, resp_headers, rest = _read_head(self.sock, deadline)
        if status != 101:
            body = _read_body(self.sock, resp_headers, rest, deadline)
            self.sock.close()
            raise Refused(status, resp_headers, body.decode("utf-8", "replace"))
        accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
        if resp_headers.get("sec-websocket-accept") != accept:
            self.sock.close()
            raise ConnectionError("bad Sec-WebSocket-Accept: %r" % resp_headers.get("sec-websocket-accept"))
        self.response_headers = resp_headers
        self.sock.settimeout(None)
        self.buf = rest
        self.thread = threading.Thread(target=self._read_loop, daemon=True)
        self.thread.start()

    def _recv_exact(self, n):
        while len(self.buf) < n:
            self.reading.wait()
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise EOFError()
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _read_frame(self):
        b0, b1 = self._recv_exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(self._recv_exact(2), "big")
        elif n == 127:
            n = int.from_bytes(self._recv_exact(8), "big")
        key = self._recv_exact(4) if b1 & 0x80 else None
        payload = self._recv_exact(n)
        return bool(b0 & 0x80), b0 & 0x0F, _mask(payload, key) if key else payload

    def _read_loop(self):
        message, message_op = b"", None
        try:
            while True:
                fin, op, payload = self._read_frame()
                if op == 9:
                    self._send(10, payload)
                    continue
                if op == 10:
                    continue
                if op == 8:
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                    self._push(("close", code, payload[2:].decode("utf-8", "replace")))
                    try:
                        self._send(8, payload[:2])
                    except OSError:
                        pass
                    return
                if op in (1, 2):
                    message, message_op = payload, op
                elif op == 0 and message_op is not None:
                    message += payload
                else:
                    self._push(("close", 1002, "replayer: bad frame opcode %d" % op))
                    return
                if fin:
                    self._push(("text", message.decode("utf-8", "replace")) if message_op == 1 else ("binary", message))
                    message, message_op = b"", None
        except (EOFError, OSError):
            self._push(("close", 1006, ""))
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    def _push(self, event):
        if not self.closed_by_us:
            self.events.put(event)

    def _send(self, opcode, payload):
        with self.send_lock:
            self.sock.sendall(ws_frame(opcode, payload))

    def send(self, kind, payload):
        self._send(1 if kind == "text" else 2, payload)

    def next(self, deadline):
        """The next event, or None when none came before deadline (time.monotonic())."""
        try:
            return self.events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None

    def drain(self):
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def close(self):
        self.closed_by_us = True
        try:
            self._send(8, (1000).to_bytes(2, "big"))
        except OSError:
            pass
        self.reading.set()

    def terminate(self):
        self.closed_by_us = True
        self.reading.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def http_request(host, port, method, path, headers, timeout=5.0):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        res = conn.getresponse()
        body = res.read()
        headers_out = {}
        for k, v in res.getheaders():
            k = k.lower()
            headers_out[k] = headers_out[k] + ", " + v if k in headers_out else v
        return res.status, headers_out, body.decode("utf-8", "replace")
    finally:
        conn.close()


# --------------------------------------------------------------------------- replaying


class Mismatch(Exception):
    pass


def is_log(event):
    if event[0] != "binary":
        return False
    w = event[2] if len(event) > 2 else None
    return w is not None and w.t == "array" and w.v and w.v[0].t == "int" and w.v[0].v == 21


def decoded(event):
    """("binary", bytes) events get their decoded value (or the reason they do not decode) attached."""
    if event[0] == "binary" and len(event) == 2:
        try:
            return ("binary", event[1], decode(event[1]))
        except DecodeError as err:
            return ("binary", event[1], None, str(err))
    return event


def describe(event):
    if event[0] == "binary":
        if event[2] is None:
            return "an undecodable binary frame (%s): %s" % (event[3], event[1][:64].hex())
        return render(event[2])
    if event[0] == "text":
        return "a text frame %s" % json.dumps(event[1][:200])
    return "the connection closing (code %d, reason %s)" % (event[1], json.dumps(event[2]))


def check_headers(want, got):
    for name, p in want.items():
        v = got.get(name)
        if p is None:
            if v is not None:
                raise Mismatch("header %s should be absent, got %r" % (name, v))
            continue
        if v is None:
            raise Mismatch("header %s missing" % name)
        why = match(p, W("str", v.encode("utf-8")), "header " + name)
        if why:
            raise Mismatch(why)


def check_http(want, status, headers, body):
    if status != want["status"]:
        raise Mismatch("expected HTTP %d, got %d %s" % (want["status"], status, body[:200]))
    if "headers" in want:
        check_headers(want["headers"], headers)
    if "body" in want:
        why = match(want["body"], W("str", body.encode("utf-8")), "body")
        if why:
            raise Mismatch(why)
    if "json" in want:
        try:
            parsed = json.loads(body)
        except ValueError:
            raise Mismatch("the body is not JSON: %s" % body[:200])
        why = match(want["json"], from_json(parsed), "json")
        if why:
            raise Mismatch(why)


class Replay:
    def __init__(self, transcript, server):
        self.t = transcript
        self.server = server
        self.conns = {}

    def fill(self, s):
        return s.replace("{token}", self.server.token)

    def run(self):
        self.server.wait_ready()
        try:
            for i, s in enumerate(self.t["steps"]):
                try:
                    self.step(s)
                except Mismatch as err:
                    raise Mismatch("%s: step %d (%s%s): %s" % (self.t["name"], i, s["kind"], " " + s["conn"] if "conn" in s else "", err))
            time.sleep(SETTLE_MS / 1000)
            for c in self.conns.values():
                if c.closed_by_us:
                    continue
                left = [e for e in map(decoded, c.drain()) if not (self.t["logs"] == "skip" and is_log(e))]
                if left:
                    raise Mismatch("%s: after the last step, connection %s got what no step expected: %s" % (self.t["name"], c.name, "; ".join(map(describe, left))))
        finally:
            for c in self.conns.values():
                c.terminate()

    def step(self, s):
        kind = s["kind"]
        if kind == "connect":
            self.connect(s)
        elif kind == "send":
            c = self.conns[s["conn"]]
            if c.closed_by_us:
                raise Mismatch("cannot send: the connection is closed")
            try:
                for _ in range(s["repeat"]):
                    c.send(*s["payload"])
            except OSError as err:
                raise Mismatch("cannot send: %s" % err)
        elif kind == "expect":
            self.expect(s)
        elif kind == "quiet":
            time.sleep(s["ms"] / 1000)
            got = [e for e in map(decoded, self.conns[s["conn"]].drain()) if not (s["logs"] == "skip" and is_log(e))]
            if got:
                raise Mismatch("expected nothing for %d ms, got %s" % (s["ms"], "; ".join(map(describe, got))))
        elif kind == "close":
            self.conns[s["conn"]].close()
        elif kind == "expectClose":
            self.expect_close(s)
        elif kind == "http":
            headers = {k: self.fill(v) for k, v in s["headers"].items()}
            status, res_headers, body = http_request(self.server.host, self.server.port, s["method"], self.fill(s["path"]), headers)
            check_http(s["expect"], status, res_headers, body)
        elif kind == "sleep":
            time.sleep(s["ms"] / 1000)
        elif kind == "signal":
            self.server.signal(s["signal"])
        elif kind == "pause":
            self.conns[s["conn"]].reading.clear()
        elif kind == "resume":
            self.conns[s["conn"]].reading.set()

    def connect(self, s):
        headers = {k: self.fill(v) for k, v in s["headers"].items()}
        try:
            c = Connection(s["conn"], self.server.host, self.server.port, self.fill(s["path"]), headers)
        except Refused as r:
            if "refused" not in s:
                raise Mismatch("the upgrade failed: HTTP %d %s" % (r.status, r.body[:200]))
            check_http(s["refused"], r.status, r.headers, r.body)
            return
        except (OSError, ConnectionError) as err:
            raise Mismatch("the upgrade failed: %s" % err)
        if "refused" in s:
            c.terminate()
            raise Mismatch("expected the upgrade to be refused with HTTP %d, but the WebSocket opened" % s["refused"]["status"])
        if "response_headers" in s:
            try:
                check_headers(s["response_headers"], c.response_headers)
            except Mismatch:
                c.terminate()
                raise
        self.conns[s["conn"]] = c

    def expect(self, s):
        c = self.conns[s["conn"]]
        deadline = time.monotonic() + s["within"] / 1000
        for k, (kind, item) in enumerate(s["slots"]):
            wanted = [item] if kind == "one" else item
            accepted = []
            while len(accepted) < len(wanted):
                e = c.next(deadline)
                what = ("frame #%d %s" % (k, json.dumps(item, ensure_ascii=False)) if kind == "one"
                        else "the unordered group #%d (%d of %d matched)" % (k, len(accepted), len(wanted)))
                if e is None:
                    raise Mismatch("%s: nothing came within %d ms" % (what, s["within"]))
                e = decoded(e)
                if e[0] == "binary" and e[2] is not None and assignable(accepted + [e[2]], wanted):
                    accepted.append(e[2])
                    continue
                if s["logs"] == "skip" and is_log(e):
                    continue
                if e[0] == "binary" and e[2] is not None and kind == "one":
                    raise Mismatch("%s: %s\n    the frame: %s" % (what, match(item, e[2]), describe(e)))
                raise Mismatch("%s: got %s" % (what, describe(e)))

    def expect_close(self, s):
        c = self.conns[s["conn"]]
        deadline = time.monotonic() + s["within"] / 1000
        while True:
            e = c.next(deadline)
            if e is None:
                raise Mismatch("the connection did not close within %d ms" % s["within"])
            e = decoded(e)
            if (s["logs"] == "skip" and is_log(e)) or (s["skip_frames"] and e[0] != "close"):
                continue
            if e[0] != "close":
                raise Mismatch("expected the connection to close, got %s" % describe(e))
            if s["code"] is not None and e[1] != s["code"]:
                raise Mismatch("expected close code %d, got %s" % (s["code"], describe(e)))
            if s["has_reason"]:
                why = match(s["reason"], W("str", e[2].encode("utf-8")), "close reason")
                if why:
                    raise Mismatch(why)
            c.closed_by_us = True
            return


# --------------------------------------------------------------------------- servers


class Server:
    """A server to replay against: one already running (--url), or one this script starts (--serve)."""

    def __init__(self, url, token, proc=None, output=None):
        parsed = urllib.parse.urlparse(url)
        self.host, self.port, self.token, self.proc, self.output = parsed.hostname, parsed.port or 80, token, proc, output

    @classmethod
    def start(cls, command, env_extra):
        token = "conformance-" + secrets.token_hex(16)
        env = dict(os.environ, AGENTIX_TOKEN=token, AGENTIX_EXIT_WITH_STDIN="1", **env_extra)
        proc = subprocess.Popen(shlex.split(command), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output, found = [], queue.Queue()

        def pump():
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace")
                output.append(line)
                m = re.search(r"listening on (ws://\S+)", line)
                if m:
                    found.put(m.group(1))
            found.put(None)
        threading.Thread(target=pump, daemon=True).start()
        try:
            url = found.get(timeout=60)
        except queue.Empty:
            url = None
        if url is None:
            proc.kill()
            proc.wait()
            raise RuntimeError("the server did not print 'listening on ws://...' within 60 s:\n" + "".join(output)[-2000:])
        return cls(url, token, proc, output)

    def wait_ready(self, within=30.0):
        deadline, last = time.monotonic() + within, ""
        while time.monotonic() < deadline:
            try:
                status, _, body = http_request(self.host, self.port, "GET", "/health", {})
                if status == 200:
                    return
                last = "HTTP %d %s" % (status, body)
            except OSError as err:
                last = str(err)
            time.sleep(0.05)
        raise Mismatch("the server was not ready within %d s: %s" % (within, last))

    def signal(self, name):
        if self.proc is None:
            raise Mismatch("cannot signal a server this replayer did not start")
        self.proc.send_signal(getattr(signal, name))

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------- self-test


def self_test():
    """The matcher and the loader cannot pass vacuously; returns a list of failures."""
    failures = []

    def check(name, ok):
        if not ok:
            failures.append(name)
    f = lambda hexstr: decode(bytes.fromhex(hexstr))
    check("an exact map fails on an extra key", match({"a": 1}, f("82a16101a16202")) is not None)
    check("an exact map passes on the same keys", match({"a": 1, "b": 2}, f("82a16101a16202")) is None)
    check("$has passes on extra keys", match({"$has": {"a": 1}}, f("82a16101a16202")) is None)
    check("$absent fails when the key is there", match({"$has": {"a": {"$absent": None}}}, f("81a16101")) is not None)
    check("an array pattern fails on a longer array", match([1], f("920102")) is not None)
    check("an empty array pattern fails on a non-empty array", match([], f("9101")) is not None)
    check("an integer pattern fails on a float", match(1, f("cb3ff0000000000000")) is not None)
    check("a float pattern fails on an integer", match({"$f64": 1}, f("01")) is not None)
    check("-0 and 0 differ", match({"$f64": "-0"}, f("cb0000000000000000")) is not None)
    check("NaN matches NaN", match({"$f64": "NaN"}, f("cb7ff8000000000000")) is None)
    check("as checks the encoding", match({"$int": "5", "as": "i64"}, f("05")) is not None)
    check("a string is not bin", match("hi", f("c4026869")) is not None)
    check("$regex fails on a non-string", match({"$regex": "."}, f("01")) is not None)
    check("$oneOf fails when none match", match({"$oneOf": [1, 2]}, f("03")) is not None)
    check("$bigext reads two's complement", match({"$bigext": "-1"}, f("d542ffff")) is None)
    check("$timestamp reads every layout", all(match({"$timestamp": {"sec": 1, "nsec": 0}}, f(h)) is None
                                                for h in ("d6ff00000001", "d7ff0000000000000001", "c70cff000000000000000000000001")))
    check("an unordered group cannot match one frame twice", not assignable([f("01"), f("01")], [1, 2]))
    check("an unordered group finds an assignment", assignable([f("01"), f("02")], [{"$any": "int"}, 1]))
    for bad, why in [({"$int": 5, "bogus": 1}, "an extra key on a tag"), ({"$nope": 1}, "an unknown tag"), ({"$any": "thing"}, "an unknown $any kind"),
                     ({"a": 1, "$has": {}}, "a tag mixed with keys"), ({"$oneOf": []}, "an empty $oneOf")]:
        try:
            check_pattern(bad)
            failures.append("the loader refuses %s" % why)
        except NotationError:
            pass
    for bad_step, why in [({"expect": "a", "frames": []}, "an empty frames list"), ({"expect": "a", "frames": [1], "bogus": 1}, "an unknown step key"),
                          ({"send": "a", "frame": 1.5}, "a plain float"), ({"expect": "b", "frames": [1]}, "an unknown connection")]:
        try:
            parse_step(bad_step, "self-test", "skip", {"a"})
            failures.append("the loader refuses %s" % why)
        except TranscriptError:
            pass
    check("a value round-trips its encoding", encode_value({"$int": "7", "as": "u64"}) == bytes.fromhex("cf0000000000000007"))
    check("undefined is d4 00 00", encode_value({"$undefined": None}) == bytes.fromhex("d40000"))
    check("$array_of writes the header once", encode_value({"$array_of": 0, "count": 3}) == bytes.fromhex("93000000"))
    return failures


# --------------------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(description="Replay Agentix conformance transcripts against a server.")
    ap.add_argument("transcripts", nargs="*", help="transcript files (default: every *.json next to this script)")
    ap.add_argument("--url", help="a running server, ws://HOST:PORT")
    ap.add_argument("--token", help="its token (with --url)")
    ap.add_argument("--serve", help="a command that starts a server and prints 'listening on ws://...'; run with AGENTIX_TOKEN set")
    ap.add_argument("--json", help="write the results to this file as JSON")
    ap.add_argument("--self-test", action="store_true", help="check the matcher itself and exit")
    args = ap.parse_args(argv)

    if args.self_test:
        failures = self_test()
        for f in failures:
            print("FAIL self-test: " + f)
        print("self-test: %d failed" % len(failures))
        return 1 if failures else 0
    if not args.url and not args.serve:
        ap.error("give --url and --token, or --serve")
    here = os.path.dirname(os.path.abspath(__file__))
    files = args.transcripts or sorted(os.path.join(here, f) for f in os.listdir(here) if f.endswith(".json"))
    transcripts = [load_transcript(f) for f in files]

    results = []

    def record(t, status, message=""):
        results.append({"name": t["name"], "title": t["title"], "status": status, "message": message, "discrepancy": t["discrepancy"]})
        mark = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[status]
        print("%s %s: %s%s" % (mark, t["name"], t["title"], ("\n    " + message.replace("\n", "\n    ")) if message else ""), flush=True)

    def replay(t, server):
        try:
            Replay(t, server).run()
            record(t, "pass")
        except Mismatch as err:
            note = "\n  known disagreement: " + t["discrepancy"] if t["discrepancy"] else ""
            record(t, "fail", str(err) + note)
        except Exception as err:  # a replayer bug must show as a failure, never end the run
            record(t, "fail", "%s: %s: %s" % (t["name"], type(err).__name__, err))

    shared = [t for t in transcripts if t["server"] is None]
    own = [t for t in transcripts if t["server"] is not None]
    if shared:
        server = Server(args.url, args.token) if args.url else Server.start(args.serve, {})
        try:
            for t in shared:
                replay(t, server)
        finally:
            server.stop()
    for t in own:
        if not args.serve:
            record(t, "skip", "needs a server of its own: give --serve")
            continue
        server = Server.start(args.serve, t["server"]["env"])
        try:
            replay(t, server)
        finally:
            server.stop()

    counts = {k: sum(r["status"] == k for r in results) for k in ("pass", "fail", "skip")}
    print("%d passed, %d failed, %d skipped" % (counts["pass"], counts["fail"], counts["skip"]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
