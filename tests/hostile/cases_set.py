"""``train --set KEY=VALUE`` from someone else's script: keys and values that must be refused
with one line naming the setting, before anything is written (no run folder is made).

The value never goes through YAML (eqprop_hw.circuit.overrides): tags, anchors, flow mappings,
comments and line breaks in it are refused by the value grammar; keys that do not exist are
refused by the spec's own checks, which then name the setting instead of a line.
"""

import json

from hostile import Case
from hostile.cases_state import TINY, resume, state, tiny_fields

FILES = {"tiny.yaml": TINY}


def setting(case_id, settings, error, names=None):
    """``train tiny.yaml --set S1 --set S2 ...``; the error line holds every fragment of
    ``error`` (and ``tiny.yaml`` unless ``names`` says otherwise)."""
    argv = ["train", "tiny.yaml", "--out", "run", "--no-plots"]
    for text in settings:
        argv += ["--set", text]
    return Case(case_id, argv, dict(FILES), error=tuple(error), names=names)


CASES = [
    # keys: too deep, malformed, absent from the spec's schema, into a value, out of a list
    setting("set-key-too-deep", ["training." + ".".join("abcdefgh") + "=1"],
            ("--set", "key of 9 parts, more than 8"), names=""),
    setting("set-key-too-long", ["training." + "x" * 300 + "=1"],
            ("key of 309 characters, more than 200",), names=""),
    setting("set-deep-unknown-section", ["training.a.b.c.d=1"],
            ("--set training.a.b.c.d=1:", "unknown key 'a' in training",)),
    setting("set-unknown-key", ["training.lr=0.05"],
            ("--set training.lr=0.05:", "unknown key 'lr' in training", "learning_rate")),
    setting("set-unknown-top-key", ["nonsense=1"],
            ("--set nonsense=1:", "unknown key 'nonsense' in a layered spec")),
    setting("set-empty-key-part", ["training..beta=1e-6"],
            ("key part '' is not a spec key",), names=""),
    setting("set-key-with-dash", ["training.be-ta=1e-6"],
            ("key part 'be-ta' is not a spec key",), names=""),
    setting("set-key-into-a-number", ["training.epochs.x=1"],
            ("--set training.epochs.x=1:", "training.epochs is a value (3), not a section"),),
    setting("set-list-index-out-of-range", ["layers.99=3"],
            ("--set layers.99=3:", "layers is a list of 3 item(s)", "(0 to 2)")),
    setting("set-no-equals", ["training.beta"],
            ("--set training.beta:", "expected KEY=VALUE"), names=""),
    setting("set-twice", ["training.beta=1e-6", "training.beta=2e-6"],
            ("training.beta is set twice",), names=""),
    # values: huge, non-finite, of the wrong type, beyond the spec's limits
    setting("set-huge-integer", ["training.epochs=" + "9" * 40],
            ("--set training.epochs=", "training.epochs must be an integer"),),
    setting("set-epochs-beyond-the-limit", ["training.epochs=1000001"],
            ("training.epochs must be <= 1,000,000",)),
    setting("set-seed-beyond-the-limit", ["training.seed=4294967296"],
            ("training.seed must be <= 4,294,967,295",)),
    setting("set-infinite-value", ["training.beta=1e999"],
            ("--set training.beta=1e999:", "the value is not a number"), names=""),
    setting("set-nan-value", ["training.beta=nan"],
            ("--set training.beta=nan:", "training.beta must be finite")),
    setting("set-negative-rate", ["training.learning_rate=-0.05"],
            ("--set training.learning_rate=-0.05:", "training.learning_rate must be positive")),
    setting("set-fraction-batch", ["training.batch_size=0.5"],
            ("--set training.batch_size=0.5:", "training.batch_size must be an integer")),
    setting("set-bad-choice", ["training.nudge=sideways"],
            ("--set training.nudge=sideways:", "training.nudge")),
    setting("set-value-too-long", ["training.nudge=" + "a" * 2000],
            ("value of 2000 characters, more than 1000",), names=""),
    setting("set-list-too-long", ["training.learning_rate=[" + ",".join(["0.1"] * 65) + "]"],
            ("a list value needs 1 to 64 items",), names=""),
    # YAML injection through the value: refused by the grammar, never parsed as YAML
    setting("set-yaml-tag", ["training.beta=!!python/object/apply:os.system [touch {marker}]"],
            ("the value is not a number, true/false, a plain word",), names=""),
    setting("set-yaml-flow-mapping", ["training={epochs: 1, batch_size: 1}"],
            ("the value is not a number",), names=""),
    setting("set-yaml-anchor", ["training.learning_rate=&a [*a, *a]"],
            ("the value is not a number",), names=""),
    setting("set-yaml-newline", ["training.nudge=positive\nseed: 7"],
            ("the value is not a number",), names=""),
    setting("set-yaml-comment", ["training.nudge=positive # centered"],
            ("the value is not a number",), names=""),
    setting("set-yaml-nested-list", ["training.learning_rate=[[0.1], 0.2]"],
            ("the value is not a number",), names=""),
    setting("set-non-ascii-word", ["training.nudge=pósitive"],
            ("the value is not a number",), names=""),
    # thousands of settings: refused at once
    setting("set-thousands", [f"training.beta={k + 1}e-9" for k in range(5000)],
            ("--set: 5000 settings, more than the limit of 100",), names=""),
]


# what a checkpoint now carries too (metrics 'epoch_seconds_total', 'overrides'), forged
def _metrics(**changes) -> dict:
    """The fields of a valid TINY checkpoint after epoch 1 whose metrics get ``changes``."""
    metrics = json.loads(str(tiny_fields(epoch=1)["metrics"]))
    return tiny_fields(epoch=1, metrics={**metrics, **changes})


CASES += [
    resume("set-checkpoint-epoch-times-wrong-length",
           state(lambda: _metrics(epoch_seconds_total=[1.0, 2.0])),
           ("metrics['epoch_seconds_total'] must list one value per done epoch (1), got 2",)),
    resume("set-checkpoint-epoch-times-not-a-time",
           state(lambda: _metrics(epoch_seconds_total=["soon"])),
           ("metrics['epoch_seconds_total'] holds 'soon', not a time in s",)),
    resume("set-checkpoint-negative-epoch-time",
           state(lambda: _metrics(epoch_seconds_total=[-1.0])), ("not a time in s",)),
    resume("set-checkpoint-other-overrides",
           state(lambda: _metrics(overrides={"training.beta": 1e-6})),
           ("it was written with overrides", "training.beta")),
]
