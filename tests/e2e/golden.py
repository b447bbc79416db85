# SPDX-License-Identifier: Apache-2.0
"""Golden transcripts: an AWS guide's example input and output, replayed through our tools.

A transcript lives in tests/e2e/golden/NAME.txt:

    # source: awsdocs/aws-cloudhsm-user-guide doc_source/cloudhsm_mgmt_util-deleteUser.md
    # mask: \\bhandle \\d+          (a regex; every match becomes <*> in expected and actual)
    --- input
    deleteUser CU alice
    --- output
    Deleting user alice(CU) on 3 nodes
    deleteUser success on server 0(10.0.0.1)

Lines starting with '#' before '--- input' are comments; '# source:' must name the guide page the
example comes from (and the section, if the page has several). '# mask:' lines name what must
differ between the guide's run and ours (handles, key bytes, timestamps). IPv4 addresses are
always masked. Nothing else is: every other character of every line is compared. Lines of the
output section are compared with the tool's output lines (trailing spaces ignored, blank lines
kept); the test passes only if all match, in order, and there are no more or fewer lines.
"""
import difflib
import pathlib
import re

DIR = pathlib.Path(__file__).resolve().parent / "golden"
IPV4 = r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b"


class Golden:
    def __init__(self, name, source, masks, inputs, output):
        self.name = name
        self.source = source
        self.masks = masks
        self.inputs = inputs
        self.output = output

    @property
    def script(self):
        """The input section as one string, one command a line (for piping into a tool)."""
        return "".join(line + "\n" for line in self.inputs)

    def normalise(self, text):
        lines = text.splitlines()
        out = []
        for line in lines:
            line = line.rstrip()
            for m in [IPV4, *self.masks]:
                line = re.sub(m, "<*>", line)
            out.append(line)
        return out

    def check(self, actual, start=None):
        """Asserts that actual (a tool's output) matches the output section, line by line.
        start: a line (regex) of actual at which the comparison begins, for tools that print a
        banner or the output of set-up commands first."""
        got = self.normalise(actual)
        if start is not None:
            idx = next((i for i, l in enumerate(got) if re.search(start, l)), None)
            assert idx is not None, f"{self.name}: no line matching {start!r} in:\n{actual}"
            got = got[idx:]
        want = self.normalise("\n".join(self.output))
        if got != want:
            diff = "\n".join(difflib.unified_diff(want, got, "guide", "ours", lineterm=""))
            raise AssertionError(f"{self.name} ({self.source}) differs:\n{diff}")


def load(name):
    """The transcript tests/e2e/golden/NAME.txt."""
    path = DIR / f"{name}.txt"
    source, masks, inputs, output = None, [], [], []
    section = None
    for raw in path.read_text().splitlines():
        if section is None:
            if raw.startswith("# source:"):
                source = raw.split(":", 1)[1].strip()
            elif raw.startswith("# mask:"):
                masks.append(raw.split(":", 1)[1].strip())
            elif raw.strip() == "--- input":
                section = inputs
            elif raw.strip() and not raw.startswith("#"):
                raise ValueError(f"{path}: unexpected line before '--- input': {raw!r}")
            continue
        if raw.strip() == "--- output" and section is inputs:
            section = output
            continue
        section.append(raw)
    if not source:
        raise ValueError(f"{path}: no '# source:' line")
    if section is not output:
        raise ValueError(f"{path}: no '--- output' section")
    return Golden(name, source, masks, inputs, output)
