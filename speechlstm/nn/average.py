"""Checkpoint averaging: the mean of the weights of several bundles of one architecture.

The last snapshots of a run (``speechlstm train --keep-snapshots K``) lie around one minimum;
their mean usually scores better than any one of them. Averaging needs only numpy.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..bundle import BundleError, load_bundle, write_bundle


def average_bundles(output: str | Path, inputs: Sequence[str | Path]) -> Path:
    """Write the element-wise mean of ``inputs``' weights to ``output`` (float16, as the trainer
    stores bundles; the normalization statistics float32), with the first input's configs.

    Raises :class:`BundleError` when an input is unreadable or its architecture differs.
    """
    if not inputs:
        raise BundleError("nothing to average: give at least one bundle")
    bundles = [load_bundle(path) for path in inputs]
    first = bundles[0]
    for bundle in bundles[1:]:
        if (bundle.model, bundle.frontend, bundle.vocabulary) != (first.model, first.frontend, first.vocabulary):
            raise BundleError(f"{bundle.source}: its model settings differ from {first.source}'s; "
                              "only bundles of one architecture average")
        if {name: value.shape for name, value in bundle.tensors.items()} != \
                {name: value.shape for name, value in first.tensors.items()}:
            raise BundleError(f"{bundle.source}: its tensors differ from {first.source}'s")
    tensors = {name: np.mean([b.tensors[name].astype(np.float64) for b in bundles], axis=0)
               for name in first.tensors}
    info = {**first.info, "averaged": [str(b.source) for b in bundles],
            "steps": [b.info.get("step") for b in bundles]}
    info.pop("step", None)
    return write_bundle(output, tensors, first.frontend, first.model, info, bundles[-1].train)
