"""The command-line demo (``python -m skunfold.demo``) in its quick form."""

import re

import pytest

from skunfold.demo import main


@pytest.mark.slow   # five solvers trained and compared: 39 s measured on a busy 2-core machine
def test_demo_quick_unfolded_beats_classical(capsys):
    assert main(["--quick", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^(ISTA|FISTA|LISTA|LISTA-CPSS|ALISTA)\s+(\w+)\s+(\d+)\s+([\d.]+)\s+(.*)$",
                     line)
        if m:
            rows[m.group(1)] = [float(v) for v in m.group(5).split()]
    assert set(rows) == {"ISTA", "FISTA", "LISTA", "LISTA-CPSS", "ALISTA"}
    # NMSE (dB) after the last layer: every unfolded network beats both classical solvers,
    # ALISTA by a wide margin
    best_classical = min(rows["ISTA"][-1], rows["FISTA"][-1])
    for name in ("LISTA", "LISTA-CPSS", "ALISTA"):
        assert rows[name][-1] < best_classical
    assert rows["ALISTA"][-1] < best_classical - 5.0
    # FISTA converges faster than ISTA at equal depth
    assert rows["FISTA"][-1] < rows["ISTA"][-1]
