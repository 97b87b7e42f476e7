"""Schema drift for the schema-drift runbook: alembic autogenerate against the app's models.

Run in a scratch copy of the app's tree (never the app's own), with the app's env.py and the
URL in the variable env.py reads. Drops are never generated: autogenerate proposes them for
tables outside the models; they are removed from the revision and listed as refused.

usage: python3 drift.py <alembic.ini> detect|generate <rev_id> <message>
prints one line `DRIFT_JSON {...}` (alembic prints its own lines too)
"""
import json
import sys

from alembic import command
from alembic.autogenerate import render_python_code
from alembic.config import Config
from alembic.operations import ops
from alembic.script import ScriptDirectory

ini, mode, rev_id, message = sys.argv[1:5]
config = Config(ini)
DROPS = (ops.DropTableOp, ops.DropColumnOp, ops.DropIndexOp, ops.DropConstraintOp)
result = {"ops": "", "refused": [], "file": None}


def render(op):
    try:
        return render_python_code(ops.UpgradeOps(ops=[op])).strip()
    except Exception:  # a renderer that needs its table context
        return repr(op)


def without_drops(container):
    kept = []
    for op in container.ops:
        if isinstance(op, ops.ModifyTableOps):
            without_drops(op)
            if op.ops:
                kept.append(op)
        elif isinstance(op, DROPS):
            result["refused"].append(render(op))
        else:
            kept.append(op)
    container.ops = kept


def hook(context, revision, directives):
    script = directives[0]
    without_drops(script.upgrade_ops)
    script.downgrade_ops = script.upgrade_ops.reverse()
    if not script.upgrade_ops.is_empty():
        result["ops"] = render_python_code(script.upgrade_ops).strip()
    if mode == "detect" or script.upgrade_ops.is_empty():
        directives[:] = []


command.revision(config, message=message, autogenerate=True, rev_id=rev_id, process_revision_directives=hook)
if mode == "generate" and result["ops"]:
    result["file"] = ScriptDirectory.from_config(config).get_revision(rev_id).path
print("DRIFT_JSON " + json.dumps(result))
