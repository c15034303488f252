"""The demo pipeline: a small CI run over a toy project that its first step writes.

conducto-nb run examples/demo.py            # live tree in the terminal
python examples/demo.py                     # print the tree
python examples/demo.py ci --shards=2 --run # run with options
"""

from __future__ import annotations

import conducto_nb as co

CHECKOUT = r"""
mkdir -p toy tests
cat > toy/__init__.py <<'PY'
def add(a, b):
    return a + b

def mean(xs):
    return sum(xs) / len(xs)
PY
for i in 0 1 2 3; do
cat > tests/test_$i.py <<PY
import unittest
import toy

class Shard$i(unittest.TestCase):
    def test_add(self):
        self.assertEqual(toy.add($i, 1), $i + 1)

    def test_mean(self):
        self.assertEqual(toy.mean([$i, $i]), $i)
PY
done
echo "checked out $(ls tests | wc -l) test files"
"""


def report(shards: int) -> str:
    """A Python callable is a node too: it runs in a warm worker (a process, or a container)."""
    print("<ConductoMarkdown>")
    print(f"**{shards} test shards** and the lint step passed")
    print("</ConductoMarkdown>")
    return f"{shards} shards"


# Nodes share no filesystem (each may run in its own container), so every step checks the
# project out into a fresh directory of its own, as a CI job does.
IN_CHECKOUT = 'cd "$(mktemp -d)" && eval "$CHECKOUT" >/dev/null && '


def ci(shards: int = 3) -> co.Serial:
    """Check out, test in parallel shards while linting, then report."""
    env = {"PYTHONDONTWRITEBYTECODE": "1", "CHECKOUT": CHECKOUT}
    with co.Serial(env=env, doc=__doc__) as root:
        co.Exec(
            'eval "$CHECKOUT"', name="checkout", doc="Writes the toy project (a stand-in for git)"
        )
        with co.Parallel(name="test"):
            for i in range(shards):
                co.Exec(
                    IN_CHECKOUT + f"python3 -m unittest discover -s tests -p 'test_{i}.py' -v",
                    name=f"shard-{i}",
                )
            co.Exec(IN_CHECKOUT + "python3 -m compileall -q toy && echo compiled", name="lint")
        co.Exec(report, shards, name="report")
    return root


if __name__ == "__main__":
    co.main(default=ci)
