"""registered_secret._join (runs into passages) gives what its earlier, plainer version gave (kept here as the
oracle), on random runs: overlapping, nested, touching, on drifting alignments, single and many per passage."""

from __future__ import annotations

import random

import pytest

from himitsu.engine.detectors import registered_secret as rs
from himitsu.engine.detectors.registered_secret import DRIFT, Passage, gap


def plain_join(runs: list[tuple[int, int, int]], k: int) -> list[Passage]:
    if not runs:
        return []
    runs = sorted(runs, key=lambda r: (r[1], r[0]))
    groups: list[list[int]] = []
    members: list[list[tuple[int, int]]] = []
    for delta, start, end in runs:
        for group in groups:
            if start - group[1] <= gap(k) and abs(delta - group[0]) <= DRIFT:
                group[0], group[1] = delta, max(group[1], end)
                members[group[3]].append((start, end + k - 1))
                break
        else:
            groups.append([delta, end, start, len(members)])
            members.append([(start, end + k - 1)])
    out = []
    for spans in members:
        spans.sort()
        covered, reach = 0, -1
        for s, e in spans:
            covered += max(0, e - max(s, reach))
            reach = max(reach, e)
        out.append(Passage(spans[0][0], max(e for _s, e in spans), covered, len(spans)))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_join_equals_the_plain_version(seed: int) -> None:
    rnd = random.Random(seed)
    k = rnd.choice([8, 12, 15])
    runs = []
    for _ in range(rnd.randrange(0, 30)):
        start = rnd.randrange(0, 2000 if seed % 2 else 300)
        runs.append((rnd.randrange(-6, 7) + (seed % 3) * 100, start, start + rnd.randrange(8, 120)))
    if runs and seed % 4 == 0:
        runs += [(d + rnd.choice([-1, 1]), s + rnd.randrange(-5, 6), e + rnd.randrange(0, 60)) for d, s, e in runs[:5]]
    assert rs._join(list(runs), k) == plain_join(list(runs), k)
