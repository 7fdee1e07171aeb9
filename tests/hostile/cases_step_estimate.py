"""The accumulator's ``devices.update.step_estimate`` (issue 18: counting pulses by the device
model's change at the read conductance): forged values in a spec, and a checkpoint of a run
with another step estimate, refused with one line."""

from hostile.cases_device_schemes import ACCUMULATE, accumulate_fields, resume, spec_case
from hostile.cases_state import state

SOFT = "devices:\n  conductance: {model: soft_bounds, states: 64}\n"

CASES = [
    spec_case("step-estimate-unknown", SOFT + "  update: {scheme: accumulate, step_estimate: "
              "oracle}\n", ("devices.update.step_estimate must be one of nominal, read",
                            "oracle")),
    spec_case("step-estimate-a-number", SOFT + "  update: {scheme: accumulate, step_estimate: "
              "1.5}\n", ("devices.update.step_estimate must be a string",)),
    spec_case("step-estimate-a-list", SOFT + "  update: {scheme: accumulate, step_estimate: "
              "[read, read]}\n", ("devices.update.step_estimate must be a string",)),
    spec_case("step-estimate-on-transfer", SOFT + "  update: {scheme: transfer, step_estimate: "
              "read}\n", ("devices.update.step_estimate is a setting of the accumulate scheme, "
                          "not of transfer",)),
    spec_case("step-estimate-on-direct", SOFT + "  update: {step_estimate: nominal}\n",
              ("devices.update.step_estimate is a setting of the accumulate scheme, not of "
               "direct",)),
    # A register filled by counting nominal steps is not one that counts predicted changes.
    resume("ckpt-nominal-register-into-a-read-run", state(accumulate_fields),
           ("written with device_update 'accumulate, threshold 1', not 'accumulate, "
            "threshold 1, step_estimate r'",),
           spec=ACCUMULATE.replace("threshold: 1.0}", "threshold: 1.0, step_estimate: read}")),
]
