"""Reproducible training pipeline for the embedded BitNet b1.58 model: `python -m train all` (see README.md)."""
