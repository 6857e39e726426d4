"""Analysis of sweeps (installed as refusal_lab.analysis)."""
