"""Cortex-M firmware: targets, generated model sources, the cross-compiled image, runs in QEMU."""
