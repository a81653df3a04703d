# SPDX-License-Identifier: LGPL-2.1-or-later
"""The JSON contract of mkio-orgs (issue 19, item 4): the schema that
mkio-orgs(1) documents under JSON OUTPUT, parsed from the page itself in its
notation (NAME = TYPE; string, integer, number, boolean, null, time, NAME,
[ TYPE ], TYPE | TYPE, { "key": TYPE, ... }; # comments), and every
command's --json output, success and error, validated against it. The
commands are those of `mkio-orgs help --json` (the verb table): a command
without a `command:` block fails here, so a new command must be documented.
Text and JSON agree on an invite's state and teams."""
import json
import os
import re
import unittest

from tooltest import (ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN, ORG, ORG2, NOBODY, ROOT, TOOL, ToolTest)

MAN = os.path.join(ROOT, "man", "mkio-orgs.1")
BUILTINS = ("string", "integer", "number", "boolean", "null", "time")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
NAME = re.compile(r"^(command:)?[a-z][a-z0-9]*(-[a-z0-9]+)*$")
KEY = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")   # snake_case, the one style
TOKEN = re.compile(r'\s*(?:(?P<str>"[^"\\\n]*")|(?P<name>(?:command:)?[A-Za-z][A-Za-z0-9_-]*)'
                   r'|(?P<punct>[{}\[\]|,:=]))')


class SchemaError(Exception):
    pass


def tokenize(text):
    """The tokens of a block, comments removed; any other character is a
    syntax error."""
    out = []
    for lineno, line in enumerate(text.split("\n"), 1):
        line = line.split("#", 1)[0]
        pos = 0
        while line[pos:].strip():
            m = TOKEN.match(line, pos)
            if not m:
                raise SchemaError("line %d: syntax error at %r" % (lineno, line[pos:].strip()))
            kind = m.lastgroup
            value = m.group(kind)
            out.append((kind, value[1:-1] if kind == "str" else value, lineno))
            pos = m.end()
    return out


class Parser:
    def __init__(self, tokens):
        self.t = tokens
        self.i = 0

    def peek(self, k=0):
        return self.t[self.i + k] if self.i + k < len(self.t) else (None, None, None)

    def take(self, kind, value=None):
        tok = self.peek()
        if tok[0] != kind or (value is not None and tok[1] != value):
            raise SchemaError("line %s: expected %s, found %r" % (tok[2], value or kind, tok[1]))
        self.i += 1
        return tok[1]

    def definitions(self):
        defs = []
        while self.peek()[0] is not None:
            name = self.take("name")
            if not NAME.match(name):
                raise SchemaError("%s: not a type name (words joined by '-')" % name)
            self.take("punct", "=")
            defs.append((name, self.type()))
        return defs

    def type(self):
        alts = [self.primary()]
        while self.peek()[:2] == ("punct", "|"):
            self.i += 1
            alts.append(self.primary())
        return alts[0] if len(alts) == 1 else ("union", alts)

    def primary(self):
        kind, value, line = self.peek()
        if kind == "name":
            # A NAME followed by '=' starts the next definition, not a type.
            if self.peek(1)[:2] == ("punct", "="):
                raise SchemaError("line %s: a type is missing before %s =" % (line, value))
            self.i += 1
            return ("builtin", value) if value in BUILTINS else ("ref", value)
        if (kind, value) == ("punct", "["):
            self.i += 1
            inner = self.type()
            self.take("punct", "]")
            return ("array", inner)
        if (kind, value) == ("punct", "{"):
            self.i += 1
            keys = {}
            while self.peek()[:2] != ("punct", "}"):
                key = self.take("str")
                if not KEY.match(key):
                    raise SchemaError("line %s: key %r is not snake_case" % (line, key))
                if key in keys:
                    raise SchemaError("line %s: key %r twice" % (line, key))
                self.take("punct", ":")
                keys[key] = self.type()
                if self.peek()[:2] == ("punct", ","):
                    self.i += 1
                elif self.peek()[:2] != ("punct", "}"):
                    raise SchemaError("line %s: expected , or } after %r" % (self.peek()[2], key))
            self.i += 1
            return ("object", keys)
        raise SchemaError("line %s: expected a type, found %r" % (line, value))


def refs(t):
    if t[0] == "ref":
        yield t[1]
    elif t[0] == "union":
        for a in t[1]:
            yield from refs(a)
    elif t[0] == "array":
        yield from refs(t[1])
    elif t[0] == "object":
        for v in t[1].values():
            yield from refs(v)


def parse_schema(blocks):
    """{name: type} from the blocks' text; strict: a syntax error, a name
    defined twice or a reference to no definition raises SchemaError."""
    schema = {}
    for block in blocks:
        for name, t in Parser(tokenize(block)).definitions():
            if name in schema:
                raise SchemaError("%s is defined twice" % name)
            schema[name] = t
    for name, t in schema.items():
        for r in refs(t):
            if r not in schema:
                raise SchemaError("%s refers to %s, which is not defined" % (name, r))
    return schema


def man_blocks(path=MAN):
    """The .Bd -literal blocks of the JSON OUTPUT section of the page."""
    with open(path) as f:
        lines = f.read().split("\n")
    blocks, inside, block, section = [], False, [], None
    for line in lines:
        if line.startswith(".Sh "):
            section = line[4:].strip()
            continue
        if section != "JSON OUTPUT":
            continue
        if line.startswith(".Bd -literal"):
            inside, block = True, []
        elif line.startswith(".Ed") and inside:
            inside = False
            blocks.append("\n".join(block))
        elif inside:
            if line.startswith(".") or "\\" in line:
                raise SchemaError("a roff request or escape in a schema block: %r" % line)
            block.append(line)
    return blocks


def validate(schema, value, t, where="$"):
    """Raises AssertionError naming the path when value is not of type t."""
    kind = t[0]
    if kind == "builtin":
        name = t[1]
        ok = {"string": isinstance(value, str),
              "integer": isinstance(value, int) and not isinstance(value, bool),
              "number": isinstance(value, (int, float)) and not isinstance(value, bool),
              "boolean": isinstance(value, bool),
              "null": value is None,
              "time": isinstance(value, str) and bool(TIME.match(value))}[name]
        if not ok:
            raise AssertionError("%s: %r is not %s" % (where, value, name))
    elif kind == "ref":
        validate(schema, value, schema[t[1]], where)
    elif kind == "array":
        if not isinstance(value, list):
            raise AssertionError("%s: %r is not a list" % (where, value))
        for i, v in enumerate(value):
            validate(schema, v, t[1], "%s[%d]" % (where, i))
    elif kind == "object":
        if not isinstance(value, dict):
            raise AssertionError("%s: %r is not an object" % (where, value))
        if set(value) != set(t[1]):
            raise AssertionError("%s: keys %s, documented %s (missing %s, extra %s)" % (
                where, sorted(value), sorted(t[1]), sorted(set(t[1]) - set(value)),
                sorted(set(value) - set(t[1]))))
        for k, v in value.items():
            validate(schema, v, t[1][k], "%s.%s" % (where, k))
    elif kind == "union":
        errors = []
        for a in t[1]:
            try:
                validate(schema, value, a, where)
                return
            except AssertionError as e:
                errors.append(str(e))
        raise AssertionError("%s: none of the alternatives: %s" % (where, "; ".join(errors)))


def three_decimals(text):
    """A float parser for json.loads that refuses more than 3 decimals."""
    frac = text.split(".", 1)[1].split("e")[0].split("E")[0] if "." in text else ""
    if len(frac) > 3:
        raise AssertionError("%s: more than 3 decimals" % text)
    return float(text)


def load(text):
    return json.loads(text, parse_float=three_decimals)


class Notation(unittest.TestCase):
    """The parser is strict: what it accepts is what the page may say."""

    def test_the_page_parses(self):
        schema = parse_schema(man_blocks())
        for name in ("organization", "inviter", "invite", "group", "error", "error-output"):
            self.assertIn(name, schema)

    def test_refusals(self):
        bad = {
            "unknown type": ['a = { "x": strng }'],
            "duplicate name": ["a = string", "a = integer"],
            "duplicate key": ['a = { "x": string, "x": string }'],
            "missing brace": ['a = { "x": string'],
            "missing type": ["a = "],
            "not snake_case": ['a = { "camelCase": string }'],
            "stray character": ['a = { "x": string; }'],
            "bad name": ["Abc = string"],
            "missing comma": ['a = { "x": string "y": string }'],
        }
        for what, blocks in bad.items():
            with self.subTest(what):
                with self.assertRaises(SchemaError):
                    parse_schema(blocks)

    def test_comments_unions_and_lists(self):
        schema = parse_schema(['a = [ string | null ] | { "k": a } # a comment'])
        validate(schema, ["x", None], schema["a"])
        validate(schema, {"k": {"k": []}}, schema["a"])
        with self.assertRaises(AssertionError):
            validate(schema, {"k": 1}, schema["a"])
        with self.assertRaises(AssertionError):
            validate(schema, {"k": [], "extra": 1}, schema["a"])


class Contract(ToolTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.schema = parse_schema(man_blocks())

    def check(self, name, p, code=0):
        """p's stdout is one object of type name, "schema": 1 first."""
        self.assertEqual(p.returncode, code, "%s: exit %d\nstdout: %s\nstderr: %s" % (
            name, p.returncode, p.stdout, p.stderr))
        obj = load(p.stdout)
        self.assertEqual(list(obj)[0], "schema", p.stdout)
        self.assertEqual(obj["schema"], 1)
        validate(self.schema, obj, self.schema[name], name)
        return obj

    def check_error(self, p, code):
        obj = self.check("error-output", p, code)
        self.assertEqual(obj["error"]["exit"], code)
        self.assertTrue(obj["error"]["message"])
        return obj["error"]

    def set_user(self, user="nobody"):
        f = os.path.join(self.tmp, "orgs.json")
        with open(f, "w") as fh:
            json.dump([{"id": ORG, "name": "Acme Media"}], fh)
        return f

    def cases(self):
        """command -> (success, error): each a function running it with
        --json and checking the output."""
        bad_token = "tok-refused-0000000000"
        orgs_file = self.set_user()

        def invite_cancel_ok():
            [inv] = load(self.run_tool("invite", "list", "--json", token=ADMIN_TOKEN).stdout)[
                "invites"]
            self.check("command:invite-cancel",
                       self.run_tool("invite", "cancel", inv["id"], "--json", token=ADMIN_TOKEN))

        def login_ok():
            self.check("command:login", self.run_tool("login", "--user", "nobody", "--json",
                                                      stdin=ALICE_TOKEN + "\n", token=None))

        def sync_ok():
            self.write_token("nobody", ALICE_TOKEN)
            p = self.run_tool("sync", "--user", "nobody", "--json", token=None)
            self.assert_exit(p, 0)
            lines = p.stdout.rstrip("\n").split("\n")
            self.assertEqual(len(lines), 2, p.stdout)
            for line in lines:
                obj = load(line)
                self.assertEqual(list(obj)[0], "schema")
                validate(self.schema, obj, self.schema["command:sync"], "command:sync")
            self.assertIn("summary", load(lines[-1]))

        def refresh_ok():
            # The service as systemd runs it (Accept=yes: one --serve per
            # connection, the connection as standard input; test_refresh.py).
            from test_refresh import AcceptLoop
            self.share_with_users()
            self.conf = self.write_conf()
            sock = os.path.join(self.tmp, "refresh.sock")
            log = open(os.path.join(self.tmp, "serve.log"), "w+")
            self.addCleanup(log.close)
            loop = AcceptLoop(sock, [TOOL, "--config", self.conf, "refresh", "--serve"], log)
            self.addCleanup(loop.close)
            self.write_token("nobody", ALICE_TOKEN)    # root's logins are left alone
            self.check("command:refresh", self.run_tool(
                "refresh", "--json", token=None, user=NOBODY,
                env={"MKIO_REFRESH_SOCKET": sock}))

        def doctor_ok():
            p = self.run_tool("doctor", "--json")
            # A check may fail on a test host (exit 4): the object is the same.
            self.check("command:doctor", p, p.returncode if p.returncode in (0, 4) else 0)

        return {
            "invite create": (
                lambda: self.check("command:invite-create", self.run_tool(
                    "invite", "create", "--email", "x@example.com", "--json", token=ADMIN_TOKEN)),
                lambda: self.check_error(self.run_tool("invite", "create", "--json"), 2)),
            "invite list": (
                lambda: self.check("command:invite-list",
                                   self.run_tool("invite", "list", "--json", token=ADMIN_TOKEN)),
                lambda: self.assertIsNotNone(self.check_error(self.run_tool(
                    "invite", "list", "--json", token=bad_token), 2)["hint"])),
            "invite cancel": (
                invite_cancel_ok,
                lambda: self.check_error(self.run_tool("invite", "cancel", "00000000-0000-4000-8000-000000000000",
                                                       "--json", token=ADMIN_TOKEN), 1)),
            "orgs list": (
                lambda: self.check("command:orgs-list", self.run_tool("orgs", "list", "--json")),
                lambda: self.check_error(self.run_tool("orgs", "list", "--json",
                                                       token=bad_token), 2)),
            "orgs accept": (
                lambda: self.check("command:orgs-accept",
                                   self.run_tool("orgs", "accept", ORG, "--json")),
                lambda: self.check_error(self.run_tool("orgs", "accept", ORG2, "--json"), 1)),
            "orgs decline": (
                lambda: self.check("command:orgs-decline",
                                   self.run_tool("orgs", "decline", ORG, "--json")),
                lambda: self.check_error(self.run_tool("orgs", "decline", ORG2, "--json"), 1)),
            "orgs leave": (
                lambda: self.check("command:orgs-leave", self.run_tool(
                    "orgs", "leave", ORG, "--yes", "--json", token=BOB_TOKEN)),
                lambda: self.check_error(self.run_tool("orgs", "leave", ORG2, "--yes", "--json",
                                                       token=BOB_TOKEN), 1)),
            "login": (
                login_ok,
                lambda: self.check_error(self.run_tool("login", "--user", "nobody", "--json",
                                                       stdin=bad_token + "\n", token=None), 2)),
            "whoami": (
                lambda: self.check("command:whoami", self.run_tool("whoami", "--json")),
                lambda: self.check_error(self.run_tool("whoami", "--json", token=bad_token), 2)),
            "logout": (
                lambda: self.check("command:logout", self.run_tool(
                    "logout", "--user", "nobody", "--json", token=None)),
                lambda: self.check_error(self.run_tool(
                    "logout", "--user", "no-such-user-x", "--json", token=None), 2)),
            "status": (
                lambda: self.check("command:status", self.run_tool("status", "--json",
                                                                   token=None)),
                lambda: self.check_error(self.run_tool("status", "--json", "--bogus"), 2)),
            "sync": (
                sync_ok,
                lambda: self.check_error(self.run_tool("sync", "--json", token=None), 2)),
            "store set-user": (
                lambda: self.check("command:store-set-user", self.run_tool(
                    "store", "set-user", "nobody", "--from", orgs_file, "--json", token=None)),
                lambda: self.check_error(self.run_tool(
                    "store", "set-user", "nobody", "--from", "/nonexistent.json", "--json",
                    token=None), 2)),
            "store publish": (
                lambda: self.check("command:store-publish",
                                   self.run_tool("store", "publish", "--json", token=None)),
                lambda: self.check_error(self.run_tool("store", "publish", "extra", "--json",
                                                       token=None), 2)),
            "ids export": (
                lambda: self.check("command:ids-export",
                                   self.run_tool("ids", "export", "--json", token=None)),
                lambda: self.check_error(self.run_tool("ids", "export", "--bogus", "--json",
                                                       token=None), 2)),
            "explain": (
                lambda: self.check("command:explain",
                                   self.run_tool("explain", "nobody", "--json", token=None)),
                lambda: self.check_error(self.run_tool("explain", "no-such-user-x", "--json",
                                                       token=None), 2)),
            "refresh": (
                refresh_ok,
                lambda: self.check_error(self.run_tool(
                    "refresh", "--json", token=None,
                    env={"MKIO_REFRESH_SOCKET": os.path.join(self.tmp, "absent.sock")}), 3)),
            "doctor": (
                doctor_ok,
                lambda: self.check_error(self.run_tool("doctor", "extra", "--json"), 2)),
        }

    def commands(self):
        obj = self.check("command:help", self.run_tool("help", "--json", token=None))
        return obj["commands"]

    @unittest.skipUnless(os.geteuid() == 0, "root commands (sync, store, login --user)")
    def test_every_command_success_and_error(self):
        commands = self.commands()
        cases = self.cases()
        self.assertEqual(sorted(commands), sorted(cases),
                         "every command of the verb table has a case here")
        for command in commands:
            block = "command:" + command.replace(" ", "-")
            with self.subTest(command=command):
                self.assertIn(block, self.schema, "%s has no %s block in mkio-orgs(1)"
                              % (command, block))
                self.fake.reset()
                self.fake.seed(__import__("tooltest").world())
                ok, error = cases[command]
                ok()
                error()

    def test_every_listed_command_is_documented(self):
        # Without running them: the verb table against the page's blocks.
        for command in self.commands():
            self.assertIn("command:" + command.replace(" ", "-"), self.schema, command)

    def test_global_json_before_the_command(self):
        self.check("command:orgs-list", self.run_tool("--json", "orgs", "list"))
        err = self.check_error(self.run_tool("--json", "frobnicate"), 2)
        self.assertIn("frobnicate", err["message"])
        self.assertIn("--help", err["hint"])
        # A usage error of the command, --json after it: still an object.
        err = self.check_error(self.run_tool("orgs", "accept", "--json"), 2)
        self.assertIsNone(err["ref"])

    def test_api_error_carries_its_ref(self):
        self.fake.fault("user_orgs_list", "status", status=403, detail="nope", ref="ref-c-403")
        err = self.check_error(self.run_tool("orgs", "list", "--json"), 1)
        self.assertEqual(err["ref"], "ref-c-403")
        self.assertIn("nope", err["message"])

    def test_text_and_json_agree_on_an_invite(self):
        text = self.run_tool("invite", "list", token=ADMIN_TOKEN)
        self.assert_exit(text, 0)
        state = re.search(r"^  state: +(.*)$", text.stdout, re.M).group(1)
        teams = re.search(r"^  teams: +(.*)$", text.stdout, re.M).group(1)
        [inv] = self.check("command:invite-list",
                           self.run_tool("invite", "list", "--json", token=ADMIN_TOKEN))["invites"]
        self.assertEqual((state, teams), ("pending", "Everyone, encoding-team"))
        self.assertEqual(inv["state"], state)
        self.assertEqual(", ".join(inv["teams"]), teams)
        # The user's side of the same invite.
        text = self.run_tool("orgs", "list")
        state = re.search(r"^  state: +(\S+)", text.stdout, re.M).group(1)
        [entry] = self.check("command:orgs-list", self.run_tool("orgs", "list", "--json"))[
            "organizations"]
        self.assertEqual(entry["state"], state)
        self.assertEqual(entry["invite"]["state"], state)
        self.assertEqual(entry["invite"]["inviter"]["email"], "admin@example.com")

    def test_decimal_seconds(self):
        self.write_token("nobody", BOB_TOKEN)
        p = self.run_tool("sync", "--user", "nobody", "--json", token=None)
        summary = load(p.stdout.rstrip("\n").split("\n")[-1])["summary"]
        self.assertIsInstance(summary["seconds"], float)
        self.assertRegex(p.stdout, r'"seconds":\d+\.\d{3}[,}]')


if __name__ == "__main__":
    unittest.main()
