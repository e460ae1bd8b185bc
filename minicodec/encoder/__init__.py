"""Encoder-only decisions (mode decision, RD costs, QP maps), kept apart from the shared syntax stages."""
