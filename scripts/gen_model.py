#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Generate openhsm's input validation tables from a botocore service model.

  gen_model.py generate SERVICE-2.JSON[.GZ] [-n NAME] [-o OUT.c]
      Writes a C file (src/model/model_<NAME>.c) holding, for every operation of the service, the
      tree of its input shape: member names, required members, types, length/value limits, enums
      and patterns. Java-style patterns are translated to anchored POSIX EREs; patterns that POSIX
      EREs over bytes cannot express (\\p{L}, code points above U+007F) become a C check function
      built on ohsm_model_cpclass_match. Output depends only on the input file and its path: the
      same model gives the same bytes.

  gen_model.py check OUT.c...
      Regenerates each committed file from the model named in its header and compares. Exit 0
      when identical, 1 when different, 77 (skipped) when that botocore model is not on this
      machine or is another botocore version than the one the file was generated from.

  gen_model.py selftest [SERVICE-2.JSON[.GZ] | GENERATED.c]...
      Checks the regex translation: fixed cases of the Java constructs it handles, then, for every
      pattern of the given models, random strings drawn from the pattern and one-character
      mutations of them, matched by libc's regcomp/regexec (through ctypes) against the ERE and by
      Python's re (ASCII, full match; '.' stopping at line terminators) standing in for
      java.util.regex against the original. Exit 0 when they agree everywhere.

Only the standard library is used. The model is trusted to be botocore's; anything the
generator does not understand (a shape type, a regex construct) stops it with an error rather
than being passed through unchecked.
"""

import argparse
import gzip
import hashlib
import json
import os
import re
import sys

SKIP = 77
MAX_ASCII = 0x7F
# Java's \s, \d, \w (ASCII, as Pattern has them without UNICODE_CHARACTER_CLASS).
SPACE = [(0x09, 0x0D), (0x20, 0x20)]
DIGIT = [(0x30, 0x39)]
WORD = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
# The ASCII part of the Unicode categories the models use; their non-ASCII part is approximated
# by "any non-ASCII code point" (see the C check's comment).
UNICODE_ASCII = {"L": [(0x41, 0x5A), (0x61, 0x7A)], "N": [(0x30, 0x39)], "Z": [(0x20, 0x20)]}
TYPES = {
    "structure": "OHSM_MODEL_STRUCTURE",
    "list": "OHSM_MODEL_LIST",
    "map": "OHSM_MODEL_MAP",
    "string": "OHSM_MODEL_STRING",
    "integer": "OHSM_MODEL_INTEGER",
    "long": "OHSM_MODEL_LONG",
    "boolean": "OHSM_MODEL_BOOLEAN",
    "blob": "OHSM_MODEL_BLOB",
    "timestamp": "OHSM_MODEL_TIMESTAMP",
    "float": "OHSM_MODEL_FLOAT",
    "double": "OHSM_MODEL_DOUBLE",
}
# Shape and member keys that do not change what a request may contain.
IGNORED_SHAPE_KEYS = {"type", "documentation", "members", "member", "key", "value", "required",
                      "min", "max", "pattern", "enum", "sensitive", "deprecated",
                      "deprecatedMessage", "exception", "fault", "error", "box"}
IGNORED_MEMBER_KEYS = {"shape", "documentation", "deprecated", "deprecatedMessage", "box"}


class GenError(Exception):
    pass


# ---- Java regex -> AST ----------------------------------------------------------------------
# Nodes: ("alt", [seq, ...]) ("seq", [node, ...]) ("group", alt) ("rep", node, lo, hi|None)
#        ("set", ranges, negated, uni) ("any",) ("bol",) ("eol",)
# A literal is a one-range set flagged lit so that it prints as itself.


class Parser:
    def __init__(self, pat):
        self.p = pat
        self.i = 0

    def error(self, what):
        raise GenError(f"pattern {self.p!r}: {what} at offset {self.i}")

    def peek(self, k=0):
        j = self.i + k
        return self.p[j] if j < len(self.p) else None

    def parse(self):
        node = self.alt()
        if self.i != len(self.p):
            self.error("unbalanced ')'")
        return node

    def alt(self):
        branches = [self.seq()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.seq())
        return ("alt", branches)

    def seq(self):
        items = []
        while self.peek() is not None and self.peek() not in "|)":
            items.append(self.quantified(self.atom()))
        return ("seq", items)

    def atom(self):
        c = self.peek()
        self.i += 1
        if c == "(":
            if self.peek() == "?":
                if self.peek(1) != ":":
                    self.error("only (?: groups are supported")
                self.i += 2
            inner = self.alt()
            if self.peek() != ")":
                self.error("missing ')'")
            self.i += 1
            return ("group", inner)
        if c == "[":
            return self.bracket()
        if c == ".":
            return ("any",)
        if c == "^":
            return ("bol",)
        if c == "$":
            return ("eol",)
        if c == "\\":
            ranges, uni = self.escape()
            return ("set", ranges, False, uni, len(ranges) == 1 and ranges[0][0] == ranges[0][1])
        if c in "*+?{":
            self.error("quantifier without operand")
        return ("set", [(ord(c), ord(c))], False, False, True)

    def escape(self):
        """After a backslash: (ranges, uni) of the escape."""
        c = self.peek()
        if c is None:
            self.error("trailing backslash")
        self.i += 1
        if c == "d":
            return DIGIT, False
        if c == "s":
            return SPACE, False
        if c == "w":
            return WORD, False
        if c == "u":
            h = self.p[self.i:self.i + 4]
            if not re.fullmatch(r"[0-9A-Fa-f]{4}", h):
                self.error("bad \\u escape")
            self.i += 4
            cp = int(h, 16)
            return [(cp, cp)], False
        if c == "p":
            m = re.match(r"\{([A-Za-z]+)\}", self.p[self.i:])
            if not m or m.group(1) not in UNICODE_ASCII:
                self.error("unsupported \\p class")
            self.i += m.end()
            return UNICODE_ASCII[m.group(1)], True
        if c.isalnum():
            self.error(f"unsupported escape \\{c}")
        return [(ord(c), ord(c))], False

    def bracket(self):
        negated = False
        if self.peek() == "^":
            negated = True
            self.i += 1
        ranges = []
        uni = False
        first = True
        while True:
            c = self.peek()
            if c is None:
                self.error("missing ']'")
            if c == "]" and not first:
                self.i += 1
                break
            if c == "[" or (c == "&" and self.peek(1) == "&"):
                self.error("nested classes and intersections are not supported")
            first = False
            self.i += 1
            if c == "\\":
                r, u = self.escape()
                uni = uni or u
                single = None if u or len(r) != 1 or r[0][0] != r[0][1] else r[0][0]
            else:
                r, single = [(ord(c), ord(c))], ord(c)
            # As java.util.regex: a single character followed by '-' and anything but ']' is a
            # range; after a range or a class escape, '-' is a literal.
            if single is not None and self.peek() == "-" and self.peek(1) not in (None, "]"):
                self.i += 1
                hc = self.peek()
                self.i += 1
                if hc == "\\":
                    hr, hu = self.escape()
                    if hu or len(hr) != 1 or hr[0][0] != hr[0][1]:
                        self.error("class escape as range end")
                    hi = hr[0][0]
                else:
                    hi = ord(hc)
                if hi < single:
                    self.error("illegal range")
                r = [(single, hi)]
            ranges.extend(r)
        return ("set", normalize(ranges), negated, uni, False)

    def quantified(self, node):
        while True:
            c = self.peek()
            if c == "*":
                lo, hi, n = 0, None, 1
            elif c == "+":
                lo, hi, n = 1, None, 1
            elif c == "?":
                lo, hi, n = 0, 1, 1
            elif c == "{":
                m = re.match(r"\{(\d+)(,(\d*))?\}", self.p[self.i:])
                if not m:
                    self.error("bad {n,m}")
                lo = int(m.group(1))
                hi = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
                n = m.end()
            else:
                return node
            if node[0] in ("bol", "eol"):
                self.error("quantified anchor")
            self.i += n
            if self.peek() in ("?", "+"):
                self.error("lazy and possessive quantifiers are not supported")
            node = ("rep", node, lo, hi)


def normalize(ranges):
    out = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


# ---- AST -> POSIX ERE --------------------------------------------------------------------------


class NotEre(Exception):
    pass


ERE_SPECIAL = set(".[]()*+?{}|^$\\")


def ere_char(cp):
    return "\\" + chr(cp) if chr(cp) in ERE_SPECIAL else chr(cp)


def ere_bracket(ranges, negated):
    """A POSIX bracket expression for an ASCII set, with ']' first, '-' last and '[' and '^'
    where they cannot be read as anything but themselves."""
    members = set()
    for lo, hi in ranges:
        members.update(range(lo, hi + 1))
    special = [c for c in (ord("]"), ord("["), ord("^"), ord("-")) if c in members]
    members -= set(special)
    body = "]" if ord("]") in special else ""
    run = sorted(members)
    k = 0
    while k < len(run):
        j = k
        while j + 1 < len(run) and run[j + 1] == run[j] + 1:
            j += 1
        if j - k >= 2:
            body += chr(run[k]) + "-" + chr(run[j])
        else:
            body += "".join(chr(c) for c in run[k:j + 1])
        k = j + 1
    for c in ("^", "["):
        if ord(c) in special:
            body += c
    if ord("-") in special:
        body += "-"
    if body.startswith("^") and not negated:
        if len(body) == 1:
            return "\\^"
        body = body[1:] + "^" if not body.endswith("-") else body[1:-1] + "^-"
    return "[" + ("^" if negated else "") + body + "]"


def to_ere(node):
    kind = node[0]
    if kind == "alt":
        return "|".join(to_ere(b) for b in node[1])
    if kind == "seq":
        return "".join(to_ere(n) for n in node[1])
    if kind == "group":
        branches = node[1][1]
        full = [b for b in branches if b[1]]
        if not full:
            raise NotEre("empty group")
        body = "|".join(to_ere(b) for b in full)
        # POSIX leaves an empty alternative undefined: (p|) is written (p)?.
        return "(" + body + ")" + ("?" if len(full) < len(branches) else "")
    if kind == "rep":
        inner = to_ere(node[1])
        lo, hi = node[2], node[3]
        if (lo, hi) == (0, None):
            q = "*"
        elif (lo, hi) == (1, None):
            q = "+"
        elif (lo, hi) == (0, 1):
            q = "?"
        elif hi is None:
            q = "{%d,}" % lo
        elif lo == hi:
            q = "{%d}" % lo
        else:
            q = "{%d,%d}" % (lo, hi)
        if node[1][0] == "rep":
            inner = "(" + inner + ")"
        return inner + q
    if kind == "set":
        ranges, negated, uni, lit = node[1], node[2], node[3], node[4]
        if uni or any(hi > MAX_ASCII for _, hi in ranges):
            raise NotEre("non-ASCII class")
        if lit:
            return ere_char(ranges[0][0])
        return ere_bracket(ranges, negated)
    if kind == "any":
        # Java's '.' stops at line terminators; \u0085, \u2028 and \u2029 are multi-byte in UTF-8
        # and not excluded here.
        return "[^\n\r]"
    if kind == "bol":
        return "^"
    if kind == "eol":
        return "$"
    raise GenError(f"unknown node {kind}")


def single_class(node):
    """(set node, min count) when the pattern is one class repeated (optionally grouped and
    anchored): the only shape the C check supports."""
    while True:
        if node[0] == "alt" and len(node[1]) == 1:
            node = node[1][0]
        elif node[0] == "seq":
            items = list(node[1])
            if items and items[0][0] == "bol":
                items = items[1:]
            if items and items[-1][0] == "eol":
                items = items[:-1]
            if len(items) != 1:
                return None
            node = items[0]
        elif node[0] == "group":
            node = node[1]
        else:
            break
    if node[0] == "rep" and node[1][0] == "set" and node[3] is None and node[2] in (0, 1):
        return node[1], node[2]
    return None


def translate(pat):
    """{'ere': str} or {'check': (ranges, negated, uni, min)}."""
    ast = Parser(pat).parse()
    try:
        return {"ere": "^(" + to_ere(ast) + ")$"}
    except NotEre:
        sc = single_class(ast)
        if sc is None:
            raise GenError(f"pattern {pat!r} is neither a POSIX ERE nor one repeated class")
        s, lo = sc
        return {"check": (s[1], s[2], s[3], lo)}


# ---- model -> C --------------------------------------------------------------------------------


def c_str(s):
    out = '"'
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out += "\\" + ch
        elif ch == "?":
            out += "\\?"  # no trigraphs
        elif 0x20 <= o < 0x7F:
            out += ch
        else:
            for b in ch.encode("utf-8"):
                out += "\\%03o" % b
    return out + '"'


def lower_camel(name):
    return name[:1].lower() + name[1:]


def botocore_version(path):
    d = os.path.dirname(os.path.abspath(path))
    while d != os.path.dirname(d):
        if os.path.basename(d) == "botocore" and os.path.isfile(os.path.join(d, "__init__.py")):
            with open(os.path.join(d, "__init__.py"), encoding="utf-8") as f:
                m = re.search(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", f.read(), re.M)
            if m:
                return m.group(1)
        d = os.path.dirname(d)
    return "unknown"


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    if path.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw, json.loads(raw)


class Gen:
    def __init__(self, model, name):
        self.m = model
        self.name = name
        self.shapes = {}  # name -> index
        self.order = []
        self.patterns = {}  # java -> index
        self.pattern_order = []

    def shape(self, sname):
        if sname in self.shapes:
            return self.shapes[sname]
        s = self.m["shapes"][sname]
        if s["type"] not in TYPES:
            raise GenError(f"shape {sname}: unsupported type {s['type']}")
        unknown = set(s) - IGNORED_SHAPE_KEYS
        if unknown:
            raise GenError(f"shape {sname}: unsupported keys {sorted(unknown)}")
        self.shapes[sname] = len(self.order)
        self.order.append(sname)
        if "pattern" in s and s["pattern"] not in self.patterns:
            self.patterns[s["pattern"]] = len(self.pattern_order)
            self.pattern_order.append(s["pattern"])
        if s["type"] == "structure":
            for mn, mm in s["members"].items():
                unknown = set(mm) - IGNORED_MEMBER_KEYS
                if unknown:
                    raise GenError(f"{sname}.{mn}: unsupported keys {sorted(unknown)}")
                self.shape(mm["shape"])
            for r in s.get("required", []):
                if r not in s["members"]:
                    raise GenError(f"{sname}: required {r} is not a member")
        elif s["type"] == "list":
            self.shape(s["member"]["shape"])
        elif s["type"] == "map":
            self.shape(s["key"]["shape"])
            self.shape(s["value"]["shape"])
            if self.m["shapes"][s["key"]["shape"]]["type"] != "string":
                raise GenError(f"{sname}: map key is not a string")
        return self.shapes[sname]

    def emit(self, src_path, raw, version):
        ops = sorted(self.m["operations"])
        op_input = {}
        for op in ops:
            inp = self.m["operations"][op].get("input")
            op_input[op] = self.shape(inp["shape"]) if inp else None
        n = self.name
        meta = self.m["metadata"]
        o = []
        w = o.append
        w("/* SPDX-License-Identifier: Apache-2.0")
        w(" *")
        w(f" * GENERATED by scripts/gen_model.py from botocore {version}:")
        w(f" *   {src_path}")
        w(f" *   ({meta.get('serviceFullName', n)} {meta.get('apiVersion', '')}, sha256 of the JSON")
        w(f" *   {hashlib.sha256(raw).hexdigest()})")
        w(" * Do not edit: regenerate with")
        w(f" *   scripts/gen_model.py generate <that file> -n {n} -o src/model/model_{n}.c")
        w(" * The input shape tree of every operation, for the table-driven validator in model.c.")
        w(" *")
        w(" * Mutable state: the compiled patterns (re, re_ok), written once under re_once and only")
        w(" * read afterwards.")
        w(" */")
        w("#include <pthread.h>")
        w("#include <regex.h>")
        w("#include <stdbool.h>")
        w("#include <stddef.h>")
        w("")
        w('#include "model/model.h"')
        w("")
        w(f"#define N_SHAPES {len(self.order)}")
        w(f"#define N_PATTERNS {len(self.pattern_order)}")
        w("")
        w("static const struct ohsm_model_shape shapes[N_SHAPES];")
        w("")
        # Check functions for patterns POSIX EREs cannot express.
        pat_c = []
        for i, p in enumerate(self.pattern_order):
            t = translate(p)
            if "ere" in t:
                pat_c.append(f"    {{{c_str(p)}, {c_str(t['ere'])}, NULL}},")
                continue
            ranges, negated, uni, lo = t["check"]
            if negated:
                raise GenError(f"pattern {p!r}: negated class in a C check")
            w("/* " + p.replace("*/", "*\\/"))
            if uni:
                w(" * \\p{L}, \\p{Z} and \\p{N} are not expressible in POSIX EREs over bytes: this")
                w(" * check accepts the ASCII characters the pattern lists plus every non-ASCII code")
                w(" * point of valid UTF-8 (a superset of those categories beyond ASCII). */")
            else:
                w(" * Code points above U+007F are not expressible in POSIX EREs over bytes: this")
                w(" * check decodes UTF-8 and tests each code point against the class. */")
            w(f"static const struct ohsm_model_cprange pat{i}_ranges[] = {{")
            for a, b in ranges:
                w(f"    {{0x{a:04X}, 0x{b:04X}}},")
            w("};")
            w("")
            w(f"static bool pat{i}_check(const char *s, size_t len)")
            w("{")
            w(f"    return ohsm_model_cpclass_match(s, len, pat{i}_ranges,")
            w(f"                                    sizeof(pat{i}_ranges) / sizeof(pat{i}_ranges[0]),")
            w(f"                                    {'true' if uni else 'false'}, {lo});")
            w("}")
            w("")
            pat_c.append(f"    {{{c_str(p)}, NULL, pat{i}_check}},")
        w("static const struct ohsm_model_pattern patterns[N_PATTERNS > 0 ? N_PATTERNS : 1] = {")
        o.extend(pat_c)
        w("};")
        w("")
        # Enum value sets and structure members.
        for idx, sname in enumerate(self.order):
            s = self.m["shapes"][sname]
            if "enum" in s:
                w(f"static const char *const enum{idx}[] = {{")
                for e in s["enum"]:
                    w(f"    {c_str(e)},")
                w("};")
                w("")
            if s["type"] == "structure" and s["members"]:
                req = set(s.get("required", []))
                w(f"static const struct ohsm_model_member members{idx}[] = {{")
                for mn, mm in s["members"].items():
                    w(f"    {{{c_str(mn)}, {c_str(lower_camel(mn))}, "
                      f"&shapes[{self.shapes[mm['shape']]}], {'true' if mn in req else 'false'}}},")
                w("};")
                w("")
        w("static const struct ohsm_model_shape shapes[N_SHAPES] = {")
        for idx, sname in enumerate(self.order):
            s = self.m["shapes"][sname]
            f = [f".name = {c_str(sname)}", f".type = {TYPES[s['type']]}"]
            flags = []
            if "min" in s:
                flags.append("OHSM_MODEL_HAS_MIN")
                f.append(f".min = {int(s['min'])}")
            if "max" in s:
                flags.append("OHSM_MODEL_HAS_MAX")
                f.append(f".max = {int(s['max'])}")
            if s.get("sensitive"):
                flags.append("OHSM_MODEL_SENSITIVE")
            if flags:
                f.append(".flags = " + " | ".join(flags))
            if "pattern" in s:
                f.append(f".pattern = &patterns[{self.patterns[s['pattern']]}]")
            if "enum" in s:
                f.append(f".enums = enum{idx}, .n_enums = {len(s['enum'])}")
            if s["type"] == "structure" and s["members"]:
                f.append(f".members = members{idx}, .n_members = {len(s['members'])}")
            if s["type"] == "list":
                f.append(f".value = &shapes[{self.shapes[s['member']['shape']]}]")
            if s["type"] == "map":
                f.append(f".key = &shapes[{self.shapes[s['key']['shape']]}]")
                f.append(f".value = &shapes[{self.shapes[s['value']['shape']]}]")
            w(f"    [{idx}] = {{" + ", ".join(f) + "},")
        w("};")
        w("")
        w("static const struct ohsm_model_op ops[] = {")
        for op in ops:
            ref = "NULL" if op_input[op] is None else f"&shapes[{op_input[op]}]"
            w(f"    {{{c_str(op)}, {ref}}},")
        w("};")
        w("")
        w("static regex_t re[N_PATTERNS > 0 ? N_PATTERNS : 1];")
        w("static bool re_ok;")
        w("static pthread_once_t re_once = PTHREAD_ONCE_INIT;")
        w("")
        w("static void re_init(void)")
        w("{")
        w("    re_ok = ohsm_model_compile(patterns, N_PATTERNS, re) == 0;")
        w("}")
        w("")
        w("static const regex_t *regexes(void)")
        w("{")
        w("    (void)pthread_once(&re_once, re_init);")
        w("    return re_ok ? re : NULL;")
        w("}")
        w("")
        w(f"const struct ohsm_model_service ohsm_model_{n} = {{")
        w(f"    .name = {c_str(n)},")
        source = f"botocore {version} {meta.get('endpointPrefix', n)} {meta.get('apiVersion', '')}"
        w(f"    .source = {c_str(source)},")
        w("    .ops = ops,")
        w("    .n_ops = sizeof(ops) / sizeof(ops[0]),")
        w("    .patterns = patterns,")
        w("    .n_patterns = N_PATTERNS,")
        w("    .regexes = regexes,")
        w("};")
        w("")
        w(f"int ohsm_model_{n}_validate(const char *op, json_t *in, char *msg, size_t cap)")
        w("{")
        w(f"    return ohsm_model_validate(&ohsm_model_{n}, op, in, msg, cap);")
        w("}")
        return "\n".join(o) + "\n"


def generate(path, name=None):
    raw, model = load(path)
    name = name or model["metadata"]["endpointPrefix"]
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise GenError(f"bad service name {name!r}")
    return name, Gen(model, name).emit(os.path.abspath(path), raw, botocore_version(path))


def cmd_generate(args):
    _, text = generate(args.model, args.name)
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, args.out)
    else:
        sys.stdout.write(text)
    return 0


def header(out):
    """(botocore version, model path, service name) from a generated file's header, or None."""
    with open(out, encoding="utf-8") as f:
        head = f.read(2000)
    m = re.search(r"GENERATED by scripts/gen_model\.py from botocore (\S+):\n \*   (\S+)\n", head)
    n = re.search(r"-n ([a-z0-9_]+) -o", head)
    return (m.group(1), m.group(2), n.group(1)) if m and n else None


def cmd_check(args):
    rc = 0
    for out in args.files:
        hdr = header(out)
        if hdr is None:
            print(f"{out}: no generator header", file=sys.stderr)
            return 1
        version, src, name = hdr
        if not os.path.isfile(src):
            print(f"SKIP {out}: its model {src} is not on this machine", file=sys.stderr)
            rc = rc or SKIP
            continue
        found = botocore_version(src)
        if found != version:
            print(f"SKIP {out}: generated from botocore {version}, {src} is now {found}; "
                  f"regenerate to update", file=sys.stderr)
            rc = rc or SKIP
            continue
        _, text = generate(src, name)
        with open(out, encoding="utf-8") as f:
            if f.read() != text:
                print(f"FAIL {out}: differs from what gen_model.py makes of {src}; regenerate",
                      file=sys.stderr)
                return 1
        print(f"ok {out}: identical to the output for {src}")
    return rc


def sample(node, rnd):
    """A random string matching the AST (ASCII choices; negated classes from a fixed list)."""
    kind = node[0]
    if kind == "alt":
        return sample(rnd.choice(node[1]), rnd)
    if kind == "seq":
        return "".join(sample(n, rnd) for n in node[1])
    if kind == "group":
        return sample(node[1], rnd)
    if kind == "rep":
        hi = node[3] if node[3] is not None else node[2] + 4
        return "".join(sample(node[1], rnd) for _ in range(rnd.randint(node[2], hi)))
    if kind == "set":
        if node[2]:
            return rnd.choice("!#%&*,;<>?~ab09Z")
        lo, hi = rnd.choice(node[1])
        return chr(rnd.randint(lo, min(hi, MAX_ASCII) if lo <= MAX_ASCII else hi))
    if kind == "any":
        return rnd.choice("ab !x.")
    return ""


class Libc:
    REG_EXTENDED, REG_NOSUB = 1, 8

    def __init__(self):
        import ctypes
        import ctypes.util
        self.ct = ctypes
        self.c = ctypes.CDLL(ctypes.util.find_library("c"))
        self.c.setlocale.restype = ctypes.c_char_p
        self.c.setlocale(0, b"C")  # LC_CTYPE as openhsmd runs (it never calls setlocale)

    def compile(self, ere):
        rx = self.ct.create_string_buffer(256)  # >= sizeof(regex_t) on every glibc
        if self.c.regcomp(rx, ere.encode(), self.REG_EXTENDED | self.REG_NOSUB) != 0:
            raise GenError(f"regcomp refuses {ere!r}")
        return rx

    def match(self, rx, s):
        return self.c.regexec(rx, s.encode(), 0, None, 0) == 0

    def free(self, rx):
        self.c.regfree(rx)


FIXED = [  # (Java pattern, string, matches)
    ("cluster-[2-7a-zA-Z]{11,16}", "cluster-igklspoyj5v", True),
    ("cluster-[2-7a-zA-Z]{11,16}", "xcluster-igklspoyj5v", False),  # whole value
    ("cluster-[2-7a-zA-Z]{11,16}", "cluster-igklspoyj5v!", False),
    ("^[a-zA-Z0-9-_.]+$", "a-_.9", True),  # '-' after a range is a literal
    ("^[a-zA-Z0-9-_.]+$", "a,b", False),
    ("[a-zA-Z0-9+-/=\\s]*", "+,-./ \t\n=", True),  # '+-/' is a range
    ("[a-zA-Z0-9+-/=\\s]*", "a*b", False),
    ("((p|)hsm[0-9][a-z.]*\\.[a-zA-Z]+)", "phsm2m.medium", True),  # empty alternative
    ("((p|)hsm[0-9][a-z.]*\\.[a-zA-Z]+)", "qhsm2m.medium", False),
    ("(?:cluster|backup)-[2-7a-zA-Z]{11,16}", "backup-abcdefghijk", True),
    ("^[\\w+=,.@:/-]+$", "a_b+c=d,e.f@g:h/i-j", True),
    ("^[\\w+=,.@:/-]+$", "a b", False),
    (".*", "a\rb", False),  # '.' stops at line terminators
    ("^[a-zA-Z0-9\\/+=]+$", "ab/+=", True),
    ("]a|b[]^-]", "]a", True),
    ("]a|b[]^-]", "b^", True),
    ("]a|b[]^-]", "b-", True),
    ("[^a]", "b", True),
]


def cmd_selftest(args):
    import random
    lib = Libc()
    bad = 0
    for pat, s, want in FIXED:
        rx = lib.compile(translate(pat)["ere"])
        if lib.match(rx, s) != want:
            print(f"FAIL {pat!r} on {s!r}: want {want}", file=sys.stderr)
            bad += 1
        lib.free(rx)
    pats = set()
    for path in args.models:
        if path.endswith(".c"):  # a generated file: the model its header names, when present
            hdr = header(path)
            if hdr is None or not os.path.isfile(hdr[1]):
                print(f"selftest: the model of {path} is not on this machine: fixed cases only")
                continue
            path = hdr[1]
        _, model = load(path)
        pats.update(s["pattern"] for s in model["shapes"].values() if "pattern" in s)
    rnd = random.Random(12)
    tried = 0
    for pat in sorted(pats):
        t = translate(pat)
        if "ere" not in t:
            continue
        ast = Parser(pat).parse()
        java = re.compile(pat.replace(".", "[^\\n\\r\\u0085\\u2028\\u2029]")
                          if pat == ".*" else pat, re.ASCII)
        rx = lib.compile(t["ere"])
        for _ in range(300):
            s = sample(ast, rnd)
            cands = [s, "x" + s, s + "x"]
            if s:
                j = rnd.randrange(len(s))
                cands += [s[:j] + s[j + 1:], s[:j] + rnd.choice("a-9_.Z!\u00e9\n ") + s[j + 1:]]
            for c in cands:
                tried += 1
                if (java.fullmatch(c) is not None) != lib.match(rx, c):
                    print(f"FAIL {pat!r} ({t['ere']!r}) on {c!r}", file=sys.stderr)
                    bad += 1
        lib.free(rx)
    print(f"selftest: {len(FIXED)} fixed cases, {tried} samples over {len(pats)} patterns, "
          f"{bad} disagreements")
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("model")
    g.add_argument("-n", "--name")
    g.add_argument("-o", "--out")
    c = sub.add_parser("check")
    c.add_argument("files", nargs="+")
    t = sub.add_parser("selftest")
    t.add_argument("models", nargs="*")
    args = ap.parse_args()
    cmds = {"generate": cmd_generate, "check": cmd_check, "selftest": cmd_selftest}
    try:
        return cmds[args.cmd](args)
    except (GenError, OSError, ValueError, KeyError) as e:
        print(f"gen_model.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
