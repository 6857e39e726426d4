"""`refusal-lab serve checkpoint=RUN/checkpoint policy=POLICY.yaml [host=127.0.0.1 port=8000]`

An OpenAI-compatible endpoint (steering/server.py) that decides every request by the policy.
Keys: conf/serve.yaml, schema config.ServeConfig (`refusal-lab serve --help`).
"""

from __future__ import annotations

from refusal_lab.commands.arguments import fail, parse
from refusal_lab.config import InputError, ServeConfig


def main(argv: list[str]) -> int:
    from refusal_lab.steering import server
    from refusal_lab.steering.policy import PolicyError

    args = parse(argv, ServeConfig, "serve")
    if isinstance(args, int):
        return args
    try:
        if not args.checkpoint:
            raise InputError("checkpoint=None: give the checkpoint folder, e.g. checkpoint=outputs/runs/<date>/<run>/checkpoint")
        import torch

        torch.set_num_threads(args.threads)
        engine = server.load_engine(args.checkpoint, args.policy, args.model_name, args.max_new_tokens)
    except (InputError, PolicyError) as exc:
        return fail("serve", exc)
    httpd = server.make_server(engine, args.host, args.port)
    host, port = httpd.server_address[:2]
    print(f"serving {engine.model_name} at http://{host}:{port}/v1 (policy: {engine.policy.rule}); Ctrl-C stops", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0
