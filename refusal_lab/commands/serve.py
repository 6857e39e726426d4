"""`refusal-lab serve checkpoint=RUN/checkpoint policy=POLICY.yaml [host=127.0.0.1 port=8000 ...]`

An OpenAI-compatible endpoint (steering/server.py) that decides every request by the policy:
API key, override lock, caps and timeouts as set here.
Keys: conf/serve.yaml, schema config.ServeConfig (`refusal-lab serve --help`).
"""

from __future__ import annotations

from refusal_lab.commands.arguments import fail, parse
from refusal_lab.config import ConfigError, ServeConfig


def main(argv: list[str]) -> int:
    from refusal_lab.steering import server

    args = parse(argv, ServeConfig, "serve")
    if isinstance(args, int):
        return args
    problems = server.config_problems(args)
    if problems:  # before any model is loaded
        return fail("serve", ConfigError(problems))
    return server.serve(args)
