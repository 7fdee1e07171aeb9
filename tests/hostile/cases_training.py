"""Mid-epoch lc checkpoints (format 2: position and the epoch's partial sums), refused with one
line when forged: the fields the one training loop (eqprop_hw.learning.loop) added for lc."""

import numpy as np

from hostile.cases_state import lc_fields, resume, state


def lc_mid_epoch_fields() -> dict:
    """A valid format-2 lc checkpoint of lc_teacher (2 sequences): 1 of them done in epoch 1."""
    fields = lc_fields(epoch=1)
    size = fields["theta"].size
    fields.update(format=np.array("eqprop-hw lc checkpoint 2"), position=np.array(1),
                  epoch_loss=np.array(1e-25), epoch_gradient=np.full(size, 1e-20))
    return fields


CASES = [
    resume("lc-mid-nan-partial-gradient", state(
        lc_mid_epoch_fields, epoch_gradient=lambda g: np.r_[g[:-1], np.nan]),
        ("'epoch_gradient'[", "is nan"), spec="lc.yaml"),
    resume("lc-mid-partial-gradient-wrong-shape", state(
        lc_mid_epoch_fields, epoch_gradient=lambda g: g[:3]),
        ("'epoch_gradient' has shape (3,)",), spec="lc.yaml"),
    resume("lc-mid-negative-partial-loss", state(lc_mid_epoch_fields,
                                                 epoch_loss=np.array(-1.0)),
           ("'epoch_loss' is -1.0",), spec="lc.yaml"),
    resume("lc-mid-missing-partial-gradient", state(lc_mid_epoch_fields, epoch_gradient=None),
           ("the field 'epoch_gradient' is missing",), spec="lc.yaml"),
    resume("lc-mid-position-past-the-sequences", state(lc_mid_epoch_fields,
                                                       position=np.array(3)),
           ("'position' is 3, it must be in [0, 2]",), spec="lc.yaml"),
    resume("lc-mid-unknown-format", state(lc_mid_epoch_fields,
                                          format=np.array("eqprop-hw lc checkpoint 9")),
           ("format 'eqprop-hw lc checkpoint 9' is not one of",), spec="lc.yaml"),
]
