"""refusal-lab: refusal tokens as an experiment orchestrator."""
