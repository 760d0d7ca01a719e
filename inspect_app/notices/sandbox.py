"""Admin-edited notice templates, rendered in Jinja's sandbox inside a process of their own.

This file is the worker program (`python -I sandbox.py MEMORY_MB`): it imports only the standard
library and Jinja, never the app, so it starts in a tenth of a second and holds no database
connection, secret or file of the app. Its address space is capped (RLIMIT_AS) before it reads
any template, and before each job its CPU time is capped to what it has used plus the job's
allowance (RLIMIT_CPU: the kernel stops it past that). The app's side (bounded.py) also stops
waiting after a wall-clock timeout and kills it. So `|center(20000000)`, `"%20000000s" % x`,
`|format` blow-ups and 10⁸-step loops cost a bounded worker, not a web process.

Protocol: one JSON object per line. The worker says {"ready": true} once, then for each job
{"sources": {field: template}, "context": {...}, "cpu_seconds": n} answers {"field": name} as
it starts each field, then {"texts": {field: text}} or {"error": {...}}.
"""

import json
import math
import resource
import sys
from functools import lru_cache

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment, SecurityError

MAX_OUTPUT = 200_000  # characters a field may produce: a notice is a few pages, not a novel


class LimitedSandbox(SandboxedEnvironment):
    """The sandbox, plus limits on what `*` and `**` may build (Jinja limits only range())."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator, left, right):
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("指数过大")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(count, int)
                if sized and len(seq) * count > MAX_OUTPUT:
                    raise SecurityError("重复生成的内容过长")
        return super().call_binop(context, operator, left, right)


environment = LimitedSandbox(autoescape=True, undefined=StrictUndefined, trim_blocks=True)
environment.globals.pop("lipsum", None)


@lru_cache(maxsize=128)
def _compiled(source):
    return environment.from_string(source)


def render(sources, context):
    """Events for one job: {"field": name} per field, then {"texts": …} or {"error": …}."""
    texts = {}
    for name, source in sources.items():
        yield {"field": name}
        try:
            text = _compiled(source).render(context)
        except TemplateSyntaxError as error:
            yield {
                "error": {
                    "kind": "syntax",
                    "field": name,
                    "line": error.lineno,
                    "message": error.message or str(error),
                }
            }
            return
        except MemoryError:
            yield {"error": {"kind": "memory", "field": name}}
            return
        except (TemplateError, TypeError, ValueError, KeyError, IndexError, ArithmeticError,
                RecursionError, OverflowError) as error:  # fmt: skip
            yield {"error": {"kind": "render", "field": name, "message": str(error)}}
            return
        if len(text) > MAX_OUTPUT:
            yield {"error": {"kind": "too_long", "field": name}}
            return
        texts[name] = text
    yield {"texts": texts}


def _cpu_used():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    memory_mb = int(sys.argv[1])
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    out = sys.stdout

    def send(message):
        out.write(json.dumps(message, ensure_ascii=False) + "\n")
        out.flush()

    send({"ready": True})
    for line in sys.stdin:
        job = json.loads(line)
        # The kernel sends SIGXCPU (which ends the process) once this job's CPU time runs out.
        soft = math.ceil(_cpu_used()) + int(job["cpu_seconds"])
        if cpu_hard != resource.RLIM_INFINITY:
            soft = min(soft, cpu_hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, cpu_hard))
        try:
            for event in render(job["sources"], job["context"]):
                send(event)
        except MemoryError:  # e.g. while encoding a huge answer: say so, the app ends us
            send({"error": {"kind": "memory", "field": None}})


if __name__ == "__main__":
    main()
