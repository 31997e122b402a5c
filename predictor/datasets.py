"""Dataset names: LEMUR's, and the datasets a user taught the predictor by reporting runs of them.

A dataset the predictor has no run of is refused (``bench/bench_unseen_dataset.py``: another dataset's estimator misses
its level by 0.35-0.48 at k = 0, with 2-4% coverage). Reporting runs is how a user's own dataset gets an estimator: the
first report names it as new (``new_dataset``; a typo of a known name must not start a dataset of its own), later
reports and predictions find it by name, and ``train-predictor`` fits it an estimator once ``NEW_DATASET_MIN_RUNS``
finished runs with their curves are reported: the largest dataset's, recalibrated on them, and its own from
``NEW_DATASET_OWN_RUNS``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from predictor.features import DATASETS

# Finished runs (with curves) of a new dataset before train-predictor fits it an estimator: the largest LEMUR dataset's
# estimator recalibrated on them (``models.Recalibrated``). Measured with each LEMUR dataset in turn playing the new one
# (``bench/bench_unseen_dataset.py --recalibrated-runs 10,20,50,150,400 --draws 2``, stem seed 0, its held-out runs of
# >= 3 epochs): from 20 runs k = 0 is answered at RMSE 0.08-0.19 where CIFAR-10's estimator as is gives 0.17-0.48
# (covering 0.02-0.49), k = 2 at 0.05-0.16 (0.08-0.15), near what 50 runs give, with 80% intervals covering 0.66-1.00
# at k = 0-3 (median 0.91; 3 of 56 cells of six datasets x four k x two draws under 0.75, none from 50 runs); an
# estimator of its own needs 50 runs for 0.13-0.30 at k = 0. From 10 runs 13 of the 56 cells covered under 0.75, and
# some draws were worse than CIFAR-10's estimator as is (SVHN k = 0 0.27; CelebA k = 2 0.11, covering 0.61).
NEW_DATASET_MIN_RUNS = 20
# Runs of a new dataset from which it gets an estimator of its own instead (``models.PerDataset``). The recalibrated
# estimator's two lines learn all they can from about 50 runs (k = 2 RMSE from 400 runs within 0.005 of 50's on all
# six); an own estimator fitted on 1,000 runs is better at k = 0-2 on every dataset's runs of >= 3 epochs (k = 2:
# 0.025-0.122 against 0.053-0.151; ``bench/results/unseen_dataset_own_1000.json``); one fitted on 400 runs was better
# on all six at k = 1, on four at k = 2-3 and on three at k = 0. On the 50-epoch runs the recalibrated one stays
# better at k = 2 on four of five even then (random runs hold few long ones; CIFAR-10's estimator learned the horizon
# from 860).
NEW_DATASET_OWN_RUNS = 1000
# The conformal level of a new dataset's estimator while it has fewer training views than LEMUR's smallest dataset
# (``models.PerDataset.min_views``). Why above LEMUR's 0.78 (``GBMParams.conformal_level``): fitted on 50-150 runs,
# the 80% intervals at 0.78 covered 0.52-0.96 of held-out runs (five datasets x k = 0-3 x two draws; 17 of 40 cells
# under 0.75 at 150 runs), at 0.9 0.76-1.00 (bench, six datasets: 0.79-0.99 at 50 runs, 0.76-0.98 at 150); at 400
# runs (over 2,000 views) 0.78 covers 0.74-0.83. An interval too narrow lets ShouldStop kill runs that would have won;
# one too wide only trains them longer.
NEW_DATASET_CONFORMAL_LEVEL = 0.9
NEW_DATASET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def dataset_key(name: str) -> str:
    """What two spellings of one dataset share: ``CIFAR-10``, ``cifar10`` and ``cifar_10`` are one name."""
    return name.lower().replace("-", "").replace("_", "")


def _prefix(field: str) -> str:
    """How a message names the input it is about: not at all when it is the call's own ``dataset`` argument."""
    return "" if field == "dataset" else f"{field}: "


def canonical_dataset(dataset, field: str = "dataset", known: Iterable[str] = DATASETS) -> str:
    """``dataset`` under the predictor's name for it among ``known`` (LEMUR's, and those reported as new): ``CIFAR-10``,
    ``cifar10`` and ``cifar_10`` are ``cifar-10`` (only names equal once lowercased without '-' and '_'). Why:
    "CIFAR-10" killed an Optuna study at its fourth trial. Anything else is a ValueError listing the known names."""
    known = list(dict.fromkeys((*DATASETS, *known)))
    if isinstance(dataset, str):
        if dataset in known:
            return dataset
        match = [name for name in known if dataset_key(name) == dataset_key(dataset)]
        if match:
            return match[0]
    raise ValueError(f"{_prefix(field)}unknown dataset {dataset!r}; known: {', '.join(known)}{_closest(dataset, known)}")


def _closest(dataset, known: list[str]) -> str:
    """" (did you mean 'cifar-10'?)" for a name one keystroke from a known one (``cifar10x``, ``mnsit``, ``cifar 10``),
    else nothing. Why one keystroke: a looser match told ``imagenet-1k`` to use ``imagenette``, another dataset."""
    if not isinstance(dataset, str):
        return ""
    typed = dataset_key(dataset).replace(" ", "")
    near = [name for name in known if one_keystroke_apart(typed, dataset_key(name))]
    return f" (did you mean {near[0]!r}?)" if near else ""


def one_keystroke_apart(a: str, b: str) -> bool:
    """One character inserted, deleted, replaced, or two neighbours swapped."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return a == b
    if len(a) > len(b):
        a, b = b, a
    i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), len(a))
    if len(a) < len(b):
        return a[i:] == b[i + 1:]
    return a[i + 1:] == b[i + 1:] or (a[i + 1:i + 2] == b[i:i + 1] and a[i:i + 1] == b[i + 1:i + 2] and a[i + 2:] == b[i + 2:])


def new_dataset_name(dataset, field: str = "dataset") -> str:
    """The name a new dataset is stored under: lowercased, 1-64 letters, digits, '.', '-' or '_', starting with a letter
    or digit (it is shown in every answer and error message about the dataset); else a ValueError naming ``field``."""
    name = dataset.strip().lower() if isinstance(dataset, str) else None
    if name is None or not NEW_DATASET_NAME.fullmatch(name):
        raise ValueError(f"{_prefix(field)}{dataset!r} is not a dataset name: use 1-64 letters, digits, '.', '-' or '_', starting with a "
                         "letter or digit")
    return name
