"""`--target` of deploy and eval: the host, a Cortex-M core (firmware measured in QEMU) or an Ethos-U NPU (Vela)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from pipeline.errors import InputError

from . import build as firmware
from . import vela

HOST = "host"
CORTEX_M = tuple(firmware.TARGETS)
ETHOS_U = tuple(vela.TARGETS)
NAMES = (HOST, *CORTEX_M, *ETHOS_U)
MEASURED_INPUTS = 3  # inputs the Cortex-M firmware runs in QEMU to count instructions (each checked bit-exactly)


OUTPUTS = vela.OUTPUTS  # files a target may add beside model.tflite


def check_available(target: str) -> None:
    """Fail before any work when the target's tools are missing: one line naming what to install."""
    if target in ETHOS_U:
        vela.installed_version()
    elif target in CORTEX_M:
        firmware.find_toolchain(firmware.get_target(target))
        firmware.qemu_command(firmware.get_target(target), "firmware.elf")
    elif target != HOST:
        raise InputError(f"unknown target {target!r}; choose one of {', '.join(NAMES)}")


@dataclass
class TargetResult:
    """The target's section of report.json and the files it writes beside the model."""

    report: dict | None = None
    files: dict = field(default_factory=dict)  # file name -> bytes, or None: remove another target's stale file

    def __post_init__(self):
        self.files = {**dict.fromkeys(OUTPUTS), **self.files}


def deploy_cost(target: str, model: bytes, source: str) -> TargetResult:
    """What the deployed model costs on the target: nothing to add for the host."""
    if target in CORTEX_M:
        cost = firmware.measure(model, target, inputs=MEASURED_INPUTS, source=source)
        figures = {key: value for key, value in asdict(cost).items() if key != "target"}
        return TargetResult({"name": target, "kind": "cortex-m", "measured_in": "QEMU", **figures})
    if target in ETHOS_U:
        run = vela.compile_model(model, target, source)
        return TargetResult({"name": target, "kind": "ethos-u", "executed": False, **run.figures},
                            {vela.VELA_MODEL: run.model, vela.SUMMARY_CSV: run.summary_csv.encode(),
                             vela.SUMMARY_TEXT: run.summary_text.encode()})
    return TargetResult({"name": HOST, "kind": "host"})


SCHEME_FIGURES = {"cortex-m": ("flash_bytes", "ram_bytes", "instructions_per_inference"),
                  "ethos-u": ("encoded_weight_bytes", "scale_bias_bytes", "off_chip_flash_bytes", "dram_bytes",
                              "sram_bytes", "cycles_per_inference", "inference_time_s", "cpu_operators")}


def scheme_cost(target: str, model: bytes, scheme: str) -> dict | None:
    """One scheme's figures on the target, for `wess eval --target` (None on the host)."""
    if target == HOST:
        return None
    report = deploy_cost(target, model, f"scheme {scheme}").report
    return {key: report[key] for key in SCHEME_FIGURES[report["kind"]]}


def markdown(report: dict | None) -> list[str]:
    """report.md's target section."""
    if not report or report["kind"] == "host":
        return []
    if report["kind"] == "cortex-m":
        return ["", f"## Target {report['name']} (firmware measured in QEMU)", "",
                f"- flash {report['flash_bytes']:,} bytes (code {report['flash_code_bytes']:,}, model blob "
                f"{report['blob_bytes']:,}), RAM {report['ram_bytes']:,} bytes (arena {report['arena_bytes']:,})",
                f"- {report['instructions_per_inference']:,} instructions per inference; outputs identical to the "
                f"host C reference: {'yes' if report['matches_host'] else 'NO'}"]
    cpu = report["cpu_operator_list"]
    lines = ["", f"## Target {report['name']} (compiled and estimated by Vela {report['vela_version']}, not executed)",
             "", f"- `{' '.join(report['command'])}` -> {vela.VELA_MODEL}, {vela.SUMMARY_CSV}, {vela.SUMMARY_TEXT}",
             f"- operators: {report['npu_operators']} on the NPU, {report['cpu_operators']} on the CPU"
             + "".join(f"\n  - CPU: {op['op']} `{op['output']}`: {op['reason'] or 'no reason given'}" for op in cpu),
             f"- SRAM {report['sram_bytes']:,} bytes; off-chip flash {report['off_chip_flash_bytes']:,} bytes; DRAM "
             f"{report['dram_bytes']:,} bytes (weights in {report['weights_storage_area']}, tensor arena in "
             f"{report['feature_map_storage_area']})",
             f"- {report['cycles_per_inference']:,} cycles per inference at {report['core_clock_hz'] / 1e6:g} MHz: "
             f"{report['inference_time_s'] * 1e3:.3f} ms",
             f"- encoded weights {report['encoded_weight_bytes']:,} bytes (int8 weights {report['original_weight_bytes']:,}"
             f"); scale+bias {report['scale_bias_bytes']:,} bytes ({firmware.VELA_BYTES_PER_CHANNEL} per output "
             "channel, computed)"]
    lines += [f"- dropped metadata `{name}`: {why}" for name, why in report["dropped_metadata"].items()]
    lines += [f"- Vela warned: {w['op']} `{w['output']}`: {w['reason']}" for w in report["warnings"]]
    return lines


def eval_markdown(target: dict | None, accuracy: dict) -> list[str]:
    """eval.md's side-by-side table of the schemes on the target."""
    if not target:
        return []
    keys = [key for key in next(iter(target["schemes"].values()))]
    return ["", f"## The schemes on {target['name']}", "", "| scheme | top-1 | " + " | ".join(keys) + " |",
            "|---" * (len(keys) + 2) + "|"] + [
        f"| {name} | {100 * accuracy[name]:.2f}% | " + " | ".join(f"{row[key]:,}" if isinstance(row[key], int)
                                                                 else f"{row[key]:.6g}" for key in keys) + " |"
        for name, row in target["schemes"].items()] + [""]
