"""Ethos-U targets: the int8 model compiled by Arm's Vela and Vela's estimates read back (compiled, never executed)."""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path

from pipeline.cref import compact
from pipeline.errors import InputError, UnsupportedError
from pipeline.tflite import flatbuf, int4_storage, metadata, versions

from . import build as firmware

DISTRIBUTION = "ethos-u-vela"
PINNED_VERSION = "5.2.0"  # pyproject's `ethos-u` extra; the README's figures were measured with it
INSTALL_HINT = f"pip install 'wess-deploy[ethos-u]' (installs {DISTRIBUTION}=={PINNED_VERSION})"
CONFIG_FILE = "Arm/vela.ini"  # the system configurations shipped with Vela (vela --list-configs Arm/vela.ini)
VELA_MODEL, SUMMARY_CSV, SUMMARY_TEXT = "model_vela.tflite", "vela_summary.csv", "vela_summary.txt"
OUTPUTS = (VELA_MODEL, SUMMARY_CSV, SUMMARY_TEXT)
NPU_OPERATOR = "CUSTOM(ethos-u)"  # flatbuf.opcode_name of the custom operator holding an NPU command stream
METADATA_NAME = "wess.vela"  # what this file is and which wess.* entries were dropped from Vela's copy, and why
DROPPED = {metadata.METADATA_NAME: (
    "it lists the int8 model's CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED operators by index with the WESS "
    "shift of every output channel; Vela replaces those operators with ethos-u custom operators and re-encodes "
    "weights, biases and scales into its own per-channel records, so no operator of this file matches it")}


@dataclass(frozen=True)
class EthosTarget:
    """An Ethos-U configuration and the system it sits in: Vela's accelerator, system config and memory mode."""

    name: str  # vela --accelerator-config
    system_config: str  # a [System_Config.*] of CONFIG_FILE: clocks, AXI ports, memory latencies
    memory_mode: str  # a [Memory_Mode.*] of CONFIG_FILE: where weights and the tensor arena live

    def arguments(self) -> list[str]:
        return ["--accelerator-config", self.name, "--config", CONFIG_FILE, "--system-config", self.system_config,
                "--memory-mode", self.memory_mode]


# U55: a microcontroller (Corstone-300 class): weights in off-chip flash, the tensor arena in SRAM shared with the
# CPU. U65 and U85: an application-class system: weights and arena in DRAM with a dedicated SRAM cache.
TARGETS = {target.name: target for target in (
    EthosTarget("ethos-u55-128", "Ethos_U55_High_End_Embedded", "Shared_Sram"),
    EthosTarget("ethos-u55-256", "Ethos_U55_High_End_Embedded", "Shared_Sram"),
    EthosTarget("ethos-u65-256", "Ethos_U65_High_End", "Dedicated_Sram_512KB"),
    EthosTarget("ethos-u85-256", "Ethos_U85_SYS_DRAM_Mid", "Dedicated_Sram_384KB"),
)}


def installed_version() -> str:
    """The installed ethos-u-vela's version; a one-line error naming the extra to install when it is missing."""
    try:
        return importlib_metadata.version(DISTRIBUTION)
    except importlib_metadata.PackageNotFoundError:
        raise UnsupportedError(f"Ethos-U targets need Vela, which is not installed: {INSTALL_HINT}") from None


@dataclass(frozen=True)
class VelaRun:
    """One compilation: the cleaned Vela model, Vela's summary (CSV and printed) and what it warned about."""

    model: bytes
    summary_csv: str
    summary_text: str
    figures: dict


def compile_model(model: bytes, target_name: str, source: str, timeout_s: float = 600.0) -> VelaRun:
    """Run Vela on an int8 model for one target, in a temporary directory; nothing is written beside the model.
    INT4 filters reach Vela as int8 tensors of the same values (Vela reads int8 weights)."""
    target = TARGETS[target_name]
    version = installed_version()
    with tempfile.TemporaryDirectory(prefix="wess-vela-") as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(int4_storage.with_int8_filters(model))
        command = [sys.executable, "-m", "ethosu.vela", str(path), *target.arguments(), "--output-dir",
                   str(Path(tmp) / "out")]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise UnsupportedError(f"{source}: Vela did not finish within {timeout_s:g} s ({target_name})") from None
        if proc.returncode != 0:
            tail = ((proc.stderr or proc.stdout).strip().splitlines() or ["no message"])[-1]
            raise UnsupportedError(f"{source}: Vela could not compile the model for {target_name}: {tail}")
        out = Path(tmp) / "out"
        summary_csv = next(out.glob("*_summary_*.csv")).read_text()
        vela_model = (out / "model_vela.tflite").read_bytes()
    text = "\n".join(line for line in proc.stdout.splitlines() if "has a dynamic signature in axis 0" not in line)
    row = next(csv.DictReader(io.StringIO(summary_csv)))
    record = {"vela_version": version, "system_config": target.system_config, "memory_mode": target.memory_mode,
              "config_file": CONFIG_FILE, "dropped_metadata": DROPPED}
    cleaned = _clean(vela_model, {"target": target_name, **record})
    figures = {**record, "command": ["vela", "model.tflite", *target.arguments()],
               **_summary_figures(row), **_placement(flatbuf.read_model(cleaned), text),
               **scale_bias(model), "warnings": _warnings(text)}
    return VelaRun(cleaned, summary_csv, text + "\n", figures)


def _summary_figures(row: dict) -> dict:
    """Vela's summary CSV (batch 1): memory in bytes (Vela prints KiB), cycles, time and weight bytes."""
    kib = 1024
    return {"core_clock_hz": int(float(row["core_clock"])),
            "sram_bytes": round(float(row["sram_memory_used"]) * kib),
            "off_chip_flash_bytes": round(float(row["off_chip_flash_memory_used"]) * kib),
            "on_chip_flash_bytes": round(float(row["on_chip_flash_memory_used"]) * kib),
            "dram_bytes": round(float(row["dram_memory_used"]) * kib),
            "weights_storage_area": row["weights_storage_area"],
            "feature_map_storage_area": row["feature_map_storage_area"],
            "cycles_per_inference": int(float(row["cycles_total"])), "npu_cycles": int(float(row["cycles_npu"])),
            "inference_time_s": float(row["inference_time"]), "macs": int(float(row["nn_macs"])),
            "original_weight_bytes": int(float(row["total_original_weights"])),
            "encoded_weight_bytes": int(float(row["total_npu_encoded_weights"]))}


def scale_bias(model: bytes) -> dict:
    """Bytes of per-channel bias and requantize records Vela stores for the conv/FC layers, in every scheme.

    Computed (Vela's summary does not print it): firmware.VELA_BYTES_PER_CHANNEL for every output channel.
    """
    figures = firmware.requant_parameter_bytes(compact.compile_model(model))
    return {"scale_bias_bytes": figures["vela_bytes_with_bias"], "weighted_output_channels": figures["output_channels"]}


_WARNING = re.compile(r"^Warning \(supported operators\) operator: (\w+), ofm: '(.*)'$")


def _warnings(text: str) -> list[dict]:
    """Vela's operator warnings: op, output tensor and the reason lines that follow each."""
    found, lines = [], text.splitlines()
    for index, line in enumerate(lines):
        match = _WARNING.match(line)
        if match:
            reason = []
            for follow in lines[index + 1:]:
                if not follow.strip() or _WARNING.match(follow):
                    break
                reason.append(follow.strip().removeprefix("Reason: "))
            found.append({"op": match.group(1), "output": match.group(2), "reason": " ".join(reason)})
    return found


def _placement(vela_model, text: str) -> dict:
    """Operators on the NPU and the CPU as Vela's summary counts them; the CPU operators left in the file, each
    with Vela's reason when it gave one."""
    counts = {kind: int(n) for kind, n in re.findall(r"^(CPU|NPU) operators = (\d+)", text, re.MULTILINE)}
    reasons = {w["output"]: w["reason"] for w in _warnings(text)}
    graph = vela_model.subgraphs[0]
    cpu = [{"op": flatbuf.opcode_name(vela_model, op), "output": flatbuf.tensor_name(graph.tensors[op.outputs[0]]),
            "reason": reasons.get(flatbuf.tensor_name(graph.tensors[op.outputs[0]]))}
           for op in graph.operators if flatbuf.opcode_name(vela_model, op) != NPU_OPERATOR]
    return {"npu_operators": counts.get("NPU"), "cpu_operators": counts.get("CPU"), "cpu_operator_list": cpu,
            "npu_command_streams": len(graph.operators) - len(cpu)}


def _clean(vela_model: bytes, record: dict) -> bytes:
    """Vela's output without the metadata that is no longer true of it, and a wess.vela entry saying so."""
    parsed = flatbuf.read_model(vela_model, VELA_MODEL)
    for name in DROPPED:
        flatbuf.remove_metadata(parsed, name)
    flatbuf.set_metadata(parsed, METADATA_NAME, json.dumps({"format": 1, **record}, sort_keys=True).encode())
    flatbuf.set_metadata(parsed, versions.METADATA_NAME,
                         versions.encode({**versions.tool_versions(), DISTRIBUTION: record["vela_version"]}))
    return flatbuf.write_model(parsed)


def is_vela_output(model) -> bool:
    """Whether a ModelT is Vela's output: it runs ethos-u custom operators."""
    return any(flatbuf.opcode_name(model, op) == NPU_OPERATOR for graph in model.subgraphs for op in graph.operators)


def inspect(model, source: str) -> dict:
    """`wess inspect` of a Vela output: its operators and what wess.vela records about it."""
    payload = flatbuf.get_metadata(model, METADATA_NAME)
    try:
        record = json.loads(payload) if payload else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{source}: metadata {METADATA_NAME!r}: not UTF-8 JSON ({exc})") from None
    if record is not None and not isinstance(record, dict):
        raise InputError(f"{source}: metadata {METADATA_NAME!r}: expected a JSON object")
    graph = model.subgraphs[0]
    ops = [flatbuf.opcode_name(model, op) for op in graph.operators]
    return {"model": source, "vela_output": True, "npu_command_streams": ops.count(NPU_OPERATOR),
            "cpu_operators": [op for op in ops if op != NPU_OPERATOR], "vela": record,
            "versions": versions.read(model, source), "wess_shifts_present":
                flatbuf.get_metadata(model, metadata.METADATA_NAME) is not None}
